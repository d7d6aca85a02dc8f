/**
 * Real boards: open a serial port with serialport@13 (prebuilt N-API bindings) and give clear errors.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SerialPort } from 'serialport';

export const FIRMATA_BAUD = 57600;

export interface OpenSerialOptions {
  /** Default 57600 (StandardFirmata). */
  baudRate?: number;
  /** Give up opening after this long (default 5000 ms). */
  timeoutMs?: number;
}

export class SerialPortOpenError extends Error {
  constructor(
    readonly path: string,
    reason: string,
    cause?: Error,
  ) {
    super(`cannot open serial port ${path}: ${reason}`, cause ? { cause } : undefined);
    this.name = 'SerialPortOpenError';
  }
}

/** A human explanation of a serialport open error. */
export function describeSerialError(path: string, err: Error): string {
  const m = err.message;
  if (/No such file or directory|ENOENT|cannot find|File not found/i.test(m)) {
    return 'no such device (is the board plugged in, and is this its path? An Uno usually appears as /dev/ttyACM0 or /dev/ttyUSB0 on Linux, COM3.. on Windows)';
  }
  if (/Permission denied|EACCES|Access denied/i.test(m)) {
    return 'permission denied (on Linux add yourself to the "dialout" group, then log in again)';
  }
  if (/busy|EBUSY|locked|Resource temporarily unavailable/i.test(m)) {
    return 'the port is busy (another program, e.g. the Arduino IDE serial monitor, holds it)';
  }
  if (/Inappropriate ioctl|ENOTTY|baud/i.test(m)) {
    return `${path} is not a serial port (${m})`;
  }
  return m;
}

/** Open `path` and resolve with the open port (autoOpen off, so errors come here, not as events). */
export function openSerialPort(path: string, options: OpenSerialOptions = {}): Promise<SerialPort> {
  const baudRate = options.baudRate ?? FIRMATA_BAUD;
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!path) return Promise.reject(new SerialPortOpenError(String(path), 'no path given'));
  return new Promise((resolve, reject) => {
    let port: SerialPort;
    try {
      port = new SerialPort({ path, baudRate, autoOpen: false });
    } catch (err) {
      reject(new SerialPortOpenError(path, (err as Error).message, err as Error));
      return;
    }
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new SerialPortOpenError(path, `timed out after ${timeoutMs} ms`));
      if (port.isOpen) port.close();
    }, timeoutMs);
    port.open((err) => {
      clearTimeout(timer);
      if (done) {
        if (!err && port.isOpen) port.close();
        return;
      }
      done = true;
      if (err) reject(new SerialPortOpenError(path, describeSerialError(path, err), err));
      else resolve(port);
    });
  });
}

/** Close a port; resolves when closed (and if it was not open). */
export function closeSerialPort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) {
      resolve();
      return;
    }
    port.close(() => resolve());
  });
}

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

/**
 * List serial ports. On Linux, serialport's list() spawns `udevadm` and crashes the process with an
 * unhandled 'error' when it is missing (containers): then fall back to scanning /dev.
 */
export async function listSerialPorts(): Promise<SerialPortInfo[]> {
  if (process.platform === 'linux' && !onPath('udevadm')) {
    const ports = new Map<string, SerialPortInfo>();
    const byId = '/dev/serial/by-id';
    if (existsSync(byId)) {
      for (const name of readdirSync(byId)) {
        try {
          const path = realpathSync(join(byId, name));
          ports.set(path, { path, manufacturer: name });
        } catch {
          // dangling link
        }
      }
    }
    for (const name of readdirSync('/dev')) {
      if (/^tty(ACM|USB)\d+$/.test(name)) {
        const path = `/dev/${name}`;
        if (!ports.has(path)) ports.set(path, { path });
      }
    }
    return [...ports.values()];
  }
  const list = await SerialPort.list();
  return list.map((p) => {
    const info: SerialPortInfo = { path: p.path };
    if (p.manufacturer) info.manufacturer = p.manufacturer;
    if (p.serialNumber) info.serialNumber = p.serialNumber;
    if (p.vendorId) info.vendorId = p.vendorId;
    if (p.productId) info.productId = p.productId;
    return info;
  });
}
