export {
  type AnalogInput,
  EmulatedBoard,
  type EmulatedBoardEvents,
  type EmulatedBoardOptions,
  type EmulatedBoardStats,
  type PinLevel,
  UNO_CLOCK_HZ,
} from './board.ts';
export { I2CBus } from './i2c.ts';
export { HD44780, type I2CDevice, type LcdSnapshot, Pcf8574Lcd } from './lcd.ts';
export { EmulatedSerialPort } from './serialPort.ts';
