/**
 * Firmata over any byte stream -> a ready johnny-five Board.
 *
 * Works with an emulated board's `port`, a serialport@13 `SerialPort`, or any Duplex that emits
 * 'open' (or is already open). johnny-five is always given an `io`, so it never loads its own
 * serialport. The handshake (REPORT_VERSION, firmware name, capabilities, analog mapping) must finish
 * within `handshakeTimeoutMs`, or the promise rejects with a FirmataHandshakeError and every timer
 * started on the way is cleared.
 */
import { createRequire } from 'node:module';
import five from 'johnny-five';
import { type PinMap, pinmap } from '../../hardware/pinmap.ts';

/** What firmata-io needs from a transport. */
export interface FirmataTransport {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
  /** true if the port is already open (serialport, EmulatedSerialPort): no 'open' event will come. */
  isOpen?: boolean;
}

/** The parts of firmata-io's Firmata class used here (it ships no typings). */
export interface FirmataIo {
  isReady: boolean;
  name: string;
  firmware: { name?: string; version?: { major: number; minor: number } };
  version: { major?: number; minor?: number };
  transport: FirmataTransport;
  reportVersionTimeoutId?: NodeJS.Timeout;
  pins: Array<{ supportedModes: number[]; analogChannel: number }>;
  analogPins: number[];
  MODES: Record<string, number>;
  on(event: string, listener: (...args: unknown[]) => void): this;
  once(event: string, listener: (...args: unknown[]) => void): this;
  emit(event: string, ...args: unknown[]): boolean;
  removeListener(event: string, listener: (...args: unknown[]) => void): this;
  removeAllListeners(event?: string): this;
}

interface FirmataIoModule {
  Firmata: new (transport: FirmataTransport, options?: Record<string, unknown>) => FirmataIo;
}

const require = createRequire(import.meta.url);
const { Firmata } = require('firmata-io') as FirmataIoModule;

export interface ConnectBoardOptions {
  /** How long the Firmata handshake may take (default 10 000 ms; StandardFirmata blinks ~2 s first). */
  handshakeTimeoutMs?: number;
  /** johnny-five board id (default: generated). */
  id?: string;
  /** Options for firmata-io's Firmata (samplingInterval, skipCapabilities...). */
  firmata?: Record<string, unknown>;
  /** Abort the handshake. */
  signal?: AbortSignal;
}

export class FirmataHandshakeError extends Error {
  constructor(
    message: string,
    readonly timeoutMs: number,
  ) {
    super(message);
    this.name = 'FirmataHandshakeError';
  }
}

/** A johnny-five Board with its Firmata io. */
export type J5Board = five.Board & {
  io: FirmataIo;
  timer?: NodeJS.Timeout | null;
  once(event: string, listener: (...args: unknown[]) => void): J5Board;
  removeListener(event: string, listener: (...args: unknown[]) => void): J5Board;
};

/**
 * Speak Firmata over `port` and resolve with a ready johnny-five Board
 * (`new Board({ io: new Firmata(port), repl: false, debug: false, sigint: false })`).
 */
export function connectBoard(port: FirmataTransport, options: ConnectBoardOptions = {}): Promise<J5Board> {
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
  return new Promise<J5Board>((resolve, reject) => {
    const alreadyOpen = port.isOpen === true;
    const io = new Firmata(port, {
      reportVersionTimeout: Math.min(5000, Math.max(100, timeoutMs / 2)),
      ...options.firmata,
    });
    const boardOptions: five.BoardOption & { sigint: boolean } = {
      io,
      repl: false,
      debug: false,
      sigint: false,
      timeout: timeoutMs + 1000,
    };
    if (options.id !== undefined) boardOptions.id = options.id;
    const board = new five.Board(boardOptions) as J5Board;
    if (alreadyOpen) {
      // firmata-io turns the transport's 'open' into 'connect'; it already happened, so say it again.
      process.nextTick(() => {
        io.emit('open');
        io.emit('connect');
      });
    }

    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      board.removeListener('ready', onReady);
      board.removeListener('error', onError);
      port.removeListener('close', onClose);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        // Leave nothing running: firmata-io's version re-request and johnny-five's connect timer.
        if (io.reportVersionTimeoutId) clearTimeout(io.reportVersionTimeoutId);
        if (board.timer) clearTimeout(board.timer);
        board.timer = null;
        // Whatever arrives later (a late version report, an error) must not surface as unhandled.
        io.removeAllListeners('ready');
        board.on('error', () => {});
        io.on('error', () => {});
        reject(error);
      } else {
        resolve(board);
      }
    };
    const onReady = () => finish(null);
    const onError = (err: unknown) =>
      finish(new Error(`Firmata handshake failed: ${err instanceof Error ? err.message : String(err)}`));
    const onClose = () => finish(new Error('the port closed before the Firmata handshake finished'));
    const onAbort = () => finish(new Error('Firmata handshake aborted'));
    const timer = setTimeout(
      () =>
        finish(
          new FirmataHandshakeError(
            `board did not answer the Firmata handshake within ${timeoutMs} ms ` +
              '(is StandardFirmata flashed, the baud rate 57600, and nothing else holding the port?)',
            timeoutMs,
          ),
        ),
      timeoutMs,
    );
    board.once('ready', onReady);
    board.on('error', onError);
    port.on('close', onClose);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Firmware name and version the board reported, e.g. "StandardFirmata.ino 2.5". */
export function firmwareLabel(board: J5Board): string {
  const fw = board.io.firmware;
  const name = fw.name ?? 'unknown';
  return fw.version ? `${name} ${fw.version.major}.${fw.version.minor}` : name;
}

/** The panel's I2C LCD (PCF8574 backpack), as the pin map wires it. */
export function pinmapLcd(board: J5Board, pins: PinMap = pinmap): five.LCD {
  return new five.LCD({
    controller: pins.lcd.controller,
    address: pins.lcd.address,
    rows: pins.lcd.rows,
    cols: pins.lcd.cols,
    board,
  } as five.LCDI2COption);
}
