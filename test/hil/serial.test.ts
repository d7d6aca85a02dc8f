import { describe, expect, it } from 'vitest';
import { openSerialPort, SerialPortOpenError } from '../../firmware/boards/serial.ts';

describe('serial ports (serialport@13)', () => {
  it('gives a clear error for a port that does not exist', async () => {
    const err = await openSerialPort('/dev/ttyStockgateNope0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerialPortOpenError);
    expect((err as Error).message).toMatch(
      /^cannot open serial port \/dev\/ttyStockgateNope0: no such device/,
    );
    expect((err as SerialPortOpenError).path).toBe('/dev/ttyStockgateNope0');
  });

  it.runIf(process.platform === 'linux')('says so when the path is not a serial port', async () => {
    await expect(openSerialPort('/dev/null')).rejects.toThrow(
      /cannot open serial port \/dev\/null: .*not a serial port/,
    );
  });

  it('refuses an empty path', async () => {
    await expect(openSerialPort('')).rejects.toThrow(/no path given/);
  });
});
