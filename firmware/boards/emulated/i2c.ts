/**
 * The emulated I2C bus: routes avr8js TWI master events to the devices attached by address.
 * An address with no device is NACKed, as on a real bus.
 */
import type { AVRTWI, TWIEventHandler } from 'avr8js';
import type { I2CDevice } from './lcd.ts';

export class I2CBus implements TWIEventHandler {
  private readonly devices = new Map<number, I2CDevice>();
  private current: I2CDevice | null = null;
  /** Transactions addressed to nobody (NACKed). */
  nacks = 0;

  constructor(private readonly twi: AVRTWI) {
    twi.eventHandler = this;
  }

  attach(device: I2CDevice): void {
    if (this.devices.has(device.address)) {
      throw new Error(`I2C address 0x${device.address.toString(16)} is already taken`);
    }
    this.devices.set(device.address, device);
  }

  start(): void {
    this.twi.completeStart();
  }

  stop(): void {
    this.current?.end?.();
    this.current = null;
    this.twi.completeStop();
  }

  connectToSlave(addr: number, write: boolean): void {
    const device = this.devices.get(addr) ?? null;
    this.current = device;
    if (!device) this.nacks++;
    device?.begin?.(write);
    this.twi.completeConnect(device !== null);
  }

  writeByte(value: number): void {
    this.twi.completeWrite(this.current ? this.current.write(value) : false);
  }

  readByte(): void {
    this.twi.completeRead(this.current ? this.current.read() : 0xff);
  }
}
