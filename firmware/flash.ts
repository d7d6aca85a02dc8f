/**
 * Flash a stock terminal (Arduino Uno) with StandardFirmata, using avrgirl-arduino's STK500v1 path.
 *
 * avrgirl-arduino's module factory takes the Connection class as a parameter; we give it our own,
 * which opens the port through a factory: serialport@13 (prebuilt bindings, clear errors) for a real
 * board, or any SerialPort-like Duplex, such as firmware/boards/stk500Virtual.ts, in tests. Progress
 * is read from the STK500 commands going out (PROG_PAGE while writing, READ_PAGE while verifying).
 *
 *   npx tsx firmware/flash.ts --port /dev/ttyACM0 [--hex path/to/file.hex]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SerialPort } from 'serialport';
import { type HexImage, parseIntelHex, standardFirmataHexPath, UNO_APPLICATION_BYTES } from './boards/hex.ts';
import { describeSerialError, SerialPortOpenError } from './boards/serial.ts';

/** The parts of serialport's SerialPort that avrgirl-arduino's stk500v1 path uses. */
export interface FlashSerialPort {
  readonly path?: string;
  readonly isOpen?: boolean;
  open(callback?: (error?: Error | null) => void): void;
  close(callback?: (error?: Error | null) => void): void;
  write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
  set(lines: { dtr?: boolean; rts?: boolean }, callback?: (error?: Error | null) => void): void;
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  removeListener(event: 'data', listener: (data: Buffer) => void): unknown;
}

export type FlashPhase = 'connecting' | 'resetting' | 'syncing' | 'writing' | 'verifying' | 'done';

export interface FlashProgress {
  phase: FlashPhase;
  /** Pages written (writing) or verified (verifying). */
  pagesDone: number;
  pagesTotal: number;
  /** 0..100 over the whole job (writing and verifying count half each). */
  percent: number;
}

export interface FlashOptions {
  /** Serial path of the real board (e.g. /dev/ttyACM0). Ignored when `openPort` is given. */
  port?: string;
  /** Inject the transport: return a closed SerialPort-like object (e.g. a VirtualStk500Board). */
  openPort?: (baudRate: number) => FlashSerialPort;
  /** avrgirl board name (only 'uno' is wired and tested). */
  board?: 'uno';
  /** Path of the .hex to flash (default: StandardFirmata from avrgirl-arduino). */
  hexPath?: string;
  onProgress?: (progress: FlashProgress) => void;
  /** avrgirl's debug log lines. */
  debug?: (...args: unknown[]) => void;
}

export interface FlashResult {
  board: string;
  port: string;
  hex: string;
  bytes: number;
  pages: number;
  verified: boolean;
  ms: number;
}

interface AvrgirlBoard {
  name: string;
  baud: number;
  pageSize: number;
  protocol: string;
  timeout: number;
}

interface AvrgirlInstance {
  flash(file: string | Buffer, callback: (error?: Error | null) => void): void;
}

type AvrgirlFactory = (
  boards: Record<string, AvrgirlBoard>,
  connection: unknown,
  protocols: Record<string, unknown>,
) => new (
  options: Record<string, unknown>,
) => AvrgirlInstance;

let avrgirlParts: {
  factory: AvrgirlFactory;
  boards: Record<string, AvrgirlBoard>;
  protocols: Record<string, unknown>;
} | null = null;

/** Load avrgirl lazily: its protocols pull in `colors`, which extends String.prototype. */
function loadAvrgirl() {
  if (!avrgirlParts) {
    const require = createRequire(import.meta.url);
    avrgirlParts = {
      factory: require('avrgirl-arduino/avrgirl-arduino.js') as AvrgirlFactory,
      boards: require('avrgirl-arduino/boards.js') as Record<string, AvrgirlBoard>,
      protocols: require('avrgirl-arduino/lib/protocols.js') as Record<string, unknown>,
    };
  }
  return avrgirlParts;
}

const PROG_PAGE = 0x64;
const READ_PAGE = 0x74;
const GET_SYNC = 0x30;

/**
 * Wrap a port so that progress can be followed from the STK500 commands written to it, and so that
 * open errors get a clear message.
 */
function instrument(
  port: FlashSerialPort,
  path: string,
  report: (phase: FlashPhase, pagesDone: number) => void,
): FlashSerialPort {
  let written = 0;
  let verified = 0;
  let synced = false;
  return {
    path,
    get isOpen() {
      return port.isOpen;
    },
    open(callback) {
      port.open((err) => {
        if (err) callback?.(new SerialPortOpenError(path, describeSerialError(path, err), err));
        else callback?.(null);
      });
    },
    close(callback) {
      port.close(callback);
    },
    write(data, callback) {
      const cmd = data[0];
      if (cmd === GET_SYNC && !synced) {
        synced = true;
        report('syncing', 0);
      } else if (cmd === PROG_PAGE) {
        report('writing', written);
        written++;
      } else if (cmd === READ_PAGE) {
        report('verifying', verified);
        verified++;
      }
      return port.write(data, (err) => {
        if (!err && cmd === PROG_PAGE) report('writing', written);
        if (!err && cmd === READ_PAGE) report('verifying', verified);
        callback?.(err);
      });
    },
    set(lines, callback) {
      if (lines.dtr === false) report('resetting', 0);
      port.set(lines, callback);
    },
    on(event, listener) {
      return port.on(event, listener);
    },
    removeListener(event, listener) {
      return port.removeListener(event, listener);
    },
  };
}

/** Build the Connection class avrgirl instantiates (one per flash). */
function connectionFor(openPort: () => FlashSerialPort) {
  return class InjectedConnection {
    serialPort: FlashSerialPort | null = null;
    readonly options: Record<string, unknown>;
    readonly debug: (...args: unknown[]) => void;

    constructor(options: Record<string, unknown>) {
      this.options = options;
      this.debug = (options['debug'] as (...args: unknown[]) => void) ?? (() => {});
    }

    _init(callback: (error?: Error | null) => void): void {
      try {
        this.serialPort = openPort();
        callback(null);
      } catch (err) {
        callback(err as Error);
      }
    }

    _setDTR(value: boolean, timeoutMs: number, callback: (error?: Error | null) => void): void {
      if (!this.serialPort) {
        callback(new Error('serial port not initialised'));
        return;
      }
      this.serialPort.set({ rts: value, dtr: value }, (err) => {
        if (err) callback(err);
        else setTimeout(() => callback(null), timeoutMs);
      });
    }

    _pollForOpen(callback: (error?: Error | null) => void): void {
      this.serialPort?.open(callback);
    }

    _pollForPort(callback: (error?: Error | null) => void): void {
      callback(new Error('port polling is not supported by the injected connection'));
    }

    _sniffPort(callback: (error: Error | null, ports?: unknown[]) => void): void {
      callback(null, []);
    }

    _listPorts(callback: (error: Error | null, ports?: unknown[]) => void): void {
      callback(null, []);
    }
  };
}

/** Flash `hexPath` (default StandardFirmata) onto a board. Resolves when written (and verified). */
export async function flashBoard(options: FlashOptions): Promise<FlashResult> {
  const boardName = options.board ?? 'uno';
  // avrgirl's STK500v1 path (stk500's bootload) always reads every page back and compares it.
  const hexPath = options.hexPath ?? standardFirmataHexPath(boardName);
  const text = readFileSync(hexPath, 'utf8');
  // Validate first: a corrupt file gets an error naming the line, before touching the board.
  const image: HexImage = parseIntelHex(text, { source: basename(hexPath), maxBytes: UNO_APPLICATION_BYTES });

  const { factory, boards, protocols } = loadAvrgirl();
  const board = boards[boardName];
  if (!board) throw new Error(`unknown board "${boardName}"`);
  if (board.protocol !== 'stk500v1') throw new Error(`board "${boardName}" does not use STK500v1`);
  const pagesTotal = Math.ceil(image.data.length / board.pageSize);

  const path = options.openPort ? 'injected' : options.port;
  if (!path) throw new Error('flashBoard: give a serial port path (port) or a transport (openPort)');
  const openRaw: () => FlashSerialPort = options.openPort
    ? () => options.openPort!(board.baud)
    : () => new SerialPort({ path, baudRate: board.baud, autoOpen: false }) as unknown as FlashSerialPort;

  let lastKey = '';
  const report = (phase: FlashPhase, pagesDone: number) => {
    if (!options.onProgress) return;
    const key = `${phase}:${pagesDone}`;
    if (key === lastKey) return;
    lastKey = key;
    const fraction =
      phase === 'done'
        ? 1
        : phase === 'writing'
          ? (pagesDone / pagesTotal) * 0.5
          : phase === 'verifying'
            ? 0.5 + (pagesDone / pagesTotal) * 0.5
            : 0;
    options.onProgress({ phase, pagesDone, pagesTotal, percent: Math.round(fraction * 1000) / 10 });
  };

  const Connection = connectionFor(() => instrument(openRaw(), path, report));
  const Avrgirl = factory(boards, Connection, protocols);
  const avrgirl = new Avrgirl({
    board: boardName,
    port: path,
    debug: options.debug ?? false,
  });

  const t0 = performance.now();
  report('connecting', 0);
  await new Promise<void>((resolve, reject) => {
    avrgirl.flash(Buffer.from(text), (err) => {
      if (err) reject(explainFlashError(err, path));
      else resolve();
    });
  });
  report('done', pagesTotal);
  return {
    board: boardName,
    port: path,
    hex: hexPath,
    bytes: image.data.length,
    pages: pagesTotal,
    verified: true,
    ms: performance.now() - t0,
  };
}

function explainFlashError(err: Error, path: string): Error {
  if (err instanceof SerialPortOpenError) return err;
  const m = err.message ?? String(err);
  if (/receiveData timeout/.test(m)) {
    return new Error(
      `flashing ${path} failed: the bootloader did not answer (${m}). Is it an Uno with optiboot, ` +
        'on the right port, and not held by another program? Try pressing RESET just before flashing.',
      { cause: err },
    );
  }
  return new Error(`flashing ${path} failed: ${m}`, { cause: err });
}

/** A one-line progress display for terminals (used by the CLI entry point below). */
export function textProgress(stream: NodeJS.WriteStream = process.stderr): (p: FlashProgress) => void {
  return (p) => {
    const width = 30;
    const filled = Math.round((p.percent / 100) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const pages =
      p.phase === 'writing' || p.phase === 'verifying' ? ` ${p.pagesDone}/${p.pagesTotal} pages` : '';
    const line = `[${bar}] ${p.percent.toFixed(0).padStart(3)}% ${p.phase}${pages}`;
    if (stream.isTTY) stream.write(`\r${line.padEnd(70)}${p.phase === 'done' ? '\n' : ''}`);
    else if (p.phase !== 'writing' && p.phase !== 'verifying') stream.write(`${line}\n`);
    else if (p.pagesDone === p.pagesTotal) stream.write(`${line}\n`);
  };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const port = arg('--port');
  if (!port || argv.includes('--help')) {
    process.stderr.write('usage: npx tsx firmware/flash.ts --port /dev/ttyACM0 [--hex file.hex]\n');
    process.exitCode = port ? 0 : 2;
    return;
  }
  const options: FlashOptions = { port, onProgress: textProgress() };
  const hexPath = arg('--hex');
  if (hexPath) options.hexPath = hexPath;
  const result = await flashBoard(options);
  process.stderr.write(
    `flashed ${result.bytes} bytes (${result.pages} pages) of ${basename(result.hex)} to ${result.port} ` +
      `in ${(result.ms / 1000).toFixed(1)} s${result.verified ? ', verified' : ''}\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
