/**
 * A virtual Arduino Uno bootloader (optiboot, STK500v1 subset) behind a Duplex, to test flashing
 * without hardware. It answers the commands avrdude and avrgirl-arduino's stk500v1 path send:
 * GET_SYNC, GET_PARAMETER, READ_SIGN, SET_DEVICE(_EXT), ENTER/LEAVE_PROGMODE, LOAD_ADDRESS,
 * PROG_PAGE, READ_PAGE, UNIVERSAL, and stores the pages in a 32 KiB flash array.
 *
 * Like the real board it only listens after a reset (DTR asserted, via `set({ dtr: true })`) and
 * leaves the bootloader after `bootloaderTimeoutMs` without traffic; it refuses writes into the
 * bootloader section (0x7E00..0x7FFF). It also offers the bits of serialport's SerialPort interface
 * that avrgirl uses (`open`, `close`, `set`, `path`, `isOpen`).
 */
import { Duplex } from 'node:stream';

export const STK = {
  OK: 0x10,
  FAILED: 0x11,
  UNKNOWN: 0x12,
  INSYNC: 0x14,
  NOSYNC: 0x15,
  CRC_EOP: 0x20,
  GET_SYNC: 0x30,
  GET_SIGN_ON: 0x31,
  SET_PARAMETER: 0x40,
  GET_PARAMETER: 0x41,
  SET_DEVICE: 0x42,
  SET_DEVICE_EXT: 0x45,
  ENTER_PROGMODE: 0x50,
  LEAVE_PROGMODE: 0x51,
  CHIP_ERASE: 0x52,
  LOAD_ADDRESS: 0x55,
  UNIVERSAL: 0x56,
  PROG_PAGE: 0x64,
  READ_PAGE: 0x74,
  READ_SIGN: 0x75,
} as const;

export interface VirtualStk500Options {
  /** Device signature (default ATmega328P 1E 95 0F). */
  signature?: readonly number[];
  /** Flash size in bytes (default 32 KiB). */
  flashBytes?: number;
  /** Where the bootloader starts; writes at or above are refused (default 0x7E00). */
  bootloaderStart?: number;
  /** The bootloader answers only after a reset (default true). */
  requireReset?: boolean;
  /** Idle time after which the bootloader starts the application (default 1000 ms, as optiboot). */
  bootloaderTimeoutMs?: number;
  /** Serial path reported by `path`. */
  path?: string;
}

export interface Stk500Log {
  command: number;
  address?: number;
  length?: number;
}

export class VirtualStk500Board extends Duplex {
  readonly flash: Uint8Array;
  readonly eeprom = new Uint8Array(1024).fill(0xff);
  readonly signature: readonly number[];
  readonly path: string;
  isOpen = false;
  /** Resets seen (DTR asserted). */
  resets = 0;
  pagesWritten = 0;
  pagesRead = 0;
  progMode = false;
  /** Every command received, in order. */
  readonly log: Stk500Log[] = [];
  /** Bytes received while the bootloader was not listening (the application would have had them). */
  ignoredBytes = 0;

  private readonly bootloaderStart: number;
  private readonly requireReset: boolean;
  private readonly bootloaderTimeoutMs: number;
  private inBootloader: boolean;
  private bootTimer: NodeJS.Timeout | null = null;
  private dtr = false;
  private address = 0; // word address
  private rx: number[] = [];

  constructor(options: VirtualStk500Options = {}) {
    super({ emitClose: false, allowHalfOpen: true });
    this.signature = options.signature ?? [0x1e, 0x95, 0x0f];
    this.flash = new Uint8Array(options.flashBytes ?? 0x8000).fill(0xff);
    this.bootloaderStart = options.bootloaderStart ?? 0x7e00;
    this.requireReset = options.requireReset ?? true;
    this.bootloaderTimeoutMs = options.bootloaderTimeoutMs ?? 1000;
    this.path = options.path ?? 'virtual:stk500';
    this.inBootloader = !this.requireReset;
  }

  /** The first `length` bytes of flash. */
  readFlash(length: number, offset = 0): Uint8Array {
    return this.flash.slice(offset, offset + length);
  }

  // ---- the serialport-like surface avrgirl uses ------------------------------------------------

  open(callback?: (error?: Error | null) => void): void {
    if (this.isOpen) {
      process.nextTick(() => callback?.(new Error('Port is already open')));
      return;
    }
    this.isOpen = true;
    process.nextTick(() => {
      this.emit('open');
      callback?.(null);
    });
  }

  close(callback?: (error?: Error | null) => void): void {
    const wasOpen = this.isOpen;
    this.isOpen = false;
    this.stopBootTimer();
    this.inBootloader = !this.requireReset;
    process.nextTick(() => {
      if (wasOpen) this.emit('close');
      callback?.(wasOpen ? null : new Error('Port is not open'));
    });
  }

  /** Modem control lines. Asserting DTR resets the board (the Uno's auto-reset capacitor). */
  set(lines: { dtr?: boolean; rts?: boolean }, callback?: (error?: Error | null) => void): void {
    if (lines.dtr !== undefined) {
      if (lines.dtr && !this.dtr) this.resetBoard();
      this.dtr = lines.dtr;
    }
    process.nextTick(() => callback?.(null));
  }

  /** Press RESET: the bootloader starts listening. */
  resetBoard(): void {
    this.resets++;
    this.rx = [];
    this.progMode = false;
    this.inBootloader = true;
    this.armBootTimer();
  }

  // ---- Duplex ----------------------------------------------------------------------------------

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.isOpen) {
      callback(new Error('Port is not open'));
      return;
    }
    if (!this.inBootloader) {
      this.ignoredBytes += chunk.length;
      callback();
      return;
    }
    this.armBootTimer();
    for (const byte of chunk) this.rx.push(byte);
    const responses: number[][] = [];
    for (let r = this.parse(); r !== null; r = this.parse()) responses.push(r);
    callback();
    // Answer after the writer's callback ran (avrgirl starts listening for the reply in it).
    if (responses.length > 0) {
      setImmediate(() => {
        if (this.isOpen) for (const r of responses) this.push(Buffer.from(r));
      });
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopBootTimer();
    this.isOpen = false;
    callback(error);
  }

  // ---- the bootloader --------------------------------------------------------------------------

  private armBootTimer(): void {
    this.stopBootTimer();
    if (!this.requireReset) return;
    this.bootTimer = setTimeout(() => {
      this.bootTimer = null;
      this.inBootloader = false; // jump to the application
      this.progMode = false;
    }, this.bootloaderTimeoutMs);
  }

  private stopBootTimer(): void {
    if (this.bootTimer) clearTimeout(this.bootTimer);
    this.bootTimer = null;
  }

  /** Length of the command at the head of the buffer (including CRC_EOP), or null if unknown yet. */
  private commandLength(): number | null {
    const cmd = this.rx[0];
    if (cmd === undefined) return null;
    switch (cmd) {
      case STK.GET_PARAMETER:
        return 3;
      case STK.SET_PARAMETER:
        return 4;
      case STK.LOAD_ADDRESS:
        return 4;
      case STK.SET_DEVICE:
        return 22;
      case STK.SET_DEVICE_EXT:
        return 7;
      case STK.UNIVERSAL:
        return 6;
      case STK.READ_PAGE:
        return 5;
      case STK.PROG_PAGE: {
        if (this.rx.length < 3) return null;
        return 4 + ((this.rx[1]! << 8) | this.rx[2]!) + 1;
      }
      default:
        return 2;
    }
  }

  private parse(): number[] | null {
    const length = this.commandLength();
    if (length === null || this.rx.length < length) return null;
    const frame = this.rx.splice(0, length);
    const cmd = frame[0]!;
    if (frame[length - 1] !== STK.CRC_EOP) {
      // Out of sync: say so and drop what we have, as the STK500 does.
      this.rx = [];
      this.log.push({ command: cmd });
      return [STK.NOSYNC];
    }
    const ok = (...data: number[]) => [STK.INSYNC, ...data, STK.OK];
    switch (cmd) {
      case STK.GET_SYNC:
        this.log.push({ command: cmd });
        return ok();
      case STK.GET_SIGN_ON:
        this.log.push({ command: cmd });
        return ok(...Buffer.from('AVR STK'));
      case STK.GET_PARAMETER: {
        this.log.push({ command: cmd });
        const param = frame[1]!;
        // optiboot 8.0: HW_VER 0x80 -> 3, SW_MAJOR 0x81 -> 8, SW_MINOR 0x82 -> 0.
        const value = param === 0x81 ? 8 : param === 0x82 ? 0 : 3;
        return ok(value);
      }
      case STK.READ_SIGN:
        this.log.push({ command: cmd });
        return ok(...this.signature);
      case STK.ENTER_PROGMODE:
        this.log.push({ command: cmd });
        this.progMode = true;
        return ok();
      case STK.LEAVE_PROGMODE:
        this.log.push({ command: cmd });
        this.progMode = false;
        return ok();
      case STK.LOAD_ADDRESS:
        this.address = frame[1]! | (frame[2]! << 8);
        this.log.push({ command: cmd, address: this.address * 2 });
        return ok();
      case STK.UNIVERSAL:
        this.log.push({ command: cmd });
        return ok(0x00);
      case STK.PROG_PAGE: {
        const n = (frame[1]! << 8) | frame[2]!;
        const memtype = frame[3]!;
        const data = frame.slice(4, 4 + n);
        const byteAddress = this.address * 2;
        this.log.push({ command: cmd, address: byteAddress, length: n });
        if (!this.progMode) return [STK.INSYNC, STK.FAILED];
        if (memtype === 0x45) {
          if (byteAddress + n > this.eeprom.length) return [STK.INSYNC, STK.FAILED];
          this.eeprom.set(data, byteAddress);
          return ok();
        }
        if (memtype !== 0x46 || byteAddress + n > this.bootloaderStart) return [STK.INSYNC, STK.FAILED];
        this.flash.set(data, byteAddress);
        this.pagesWritten++;
        return ok();
      }
      case STK.READ_PAGE: {
        const n = (frame[1]! << 8) | frame[2]!;
        const memtype = frame[3]!;
        const byteAddress = this.address * 2;
        this.log.push({ command: cmd, address: byteAddress, length: n });
        const mem = memtype === 0x45 ? this.eeprom : this.flash;
        this.pagesRead++;
        return ok(...mem.subarray(byteAddress, byteAddress + n));
      }
      default:
        // SET_DEVICE, SET_DEVICE_EXT, SET_PARAMETER, CHIP_ERASE and anything else: accept, as optiboot does.
        this.log.push({ command: cmd });
        return ok();
    }
  }
}
