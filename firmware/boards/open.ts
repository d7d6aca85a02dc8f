/**
 * The three boards a stock terminal can run on, behind one call:
 *
 * - `serial`: a real Uno flashed with StandardFirmata, through serialport@13 + firmata-io;
 * - `emulated`: the same StandardFirmata image on avr8js (EmulatedBoard), buttons pressable in code;
 * - `virtual`: no board at all (no panel): the terminal alone, for large fleets.
 *
 * `openBoard()` resolves once the board answered the Firmata handshake, with a ready johnny-five
 * Board (null for virtual) and the firmware's name and version. 'lost' fires when the link goes
 * away without close() (cable pulled, board stopped): the host then treats it as fatal.
 */
import { EventEmitter } from 'node:events';
import five from 'johnny-five';
import type { SerialPort } from 'serialport';
import { EmulatedBoard } from './emulated/index.ts';
import { connectBoard, type FirmataTransport, firmwareLabel, type J5Board } from './firmata.ts';
import { type HexImage, readHexFile } from './hex.ts';
import { closeSerialPort, openSerialPort } from './serial.ts';

export const BOARD_KINDS = ['serial', 'emulated', 'virtual'] as const;
export type BoardKind = (typeof BOARD_KINDS)[number];

export interface OpenBoardOptions {
  kind: BoardKind;
  /** serial: the port path (/dev/ttyACM0, COM3...). */
  port?: string;
  /** emulated: a name for messages and the port path (`emulated:<name>`). */
  name?: string;
  /** emulated: the firmware image file (default StandardFirmata from avrgirl-arduino). */
  hexPath?: string;
  /** emulated: the firmware image itself. */
  hex?: HexImage;
  /** emulated: emulated time per wall time once ready (default 1 = real time). */
  speed?: number;
  /**
   * emulated: speed while booting (default Infinity: StandardFirmata's ~1.9 s version blink runs
   * flat out, ~0.8 s wall instead of ~2 s).
   */
  bootSpeed?: number;
  /** How long the Firmata handshake may take (default 10 s for serial, 20 s for emulated). */
  handshakeTimeoutMs?: number;
}

export interface BoardEvents {
  /** The link went away without close(). */
  lost: [reason: string];
}

export class OpenedBoard extends EventEmitter<BoardEvents> {
  private closing = false;
  private lostReason: string | null = null;

  constructor(
    readonly kind: BoardKind,
    /** The ready johnny-five Board (null for virtual). */
    readonly j5: J5Board | null,
    /** The emulated Uno (emulated only). */
    readonly emulated: EmulatedBoard | null,
    /** Firmware name and version the board reported ("StandardFirmata.ino 2.4"), null for virtual. */
    readonly firmware: string | null,
    private readonly transport: FirmataTransport | null,
    private readonly closeTransport: () => Promise<void>,
    /** Wall ms from opening to the handshake's end. */
    readonly bootMs: number,
  ) {
    super();
    transport?.on('close', () => {
      if (this.closing || this.lostReason) return;
      this.lostReason = kind === 'serial' ? 'the serial port closed (board unplugged?)' : 'the board stopped';
      this.forget();
      this.emit('lost', this.lostReason);
    });
    // johnny-five re-emits the io's errors (a write to a pulled cable...): unheard, they would throw.
    (j5 as unknown as EventEmitter | null)?.on('error', (err: Error) => {
      if (this.closing || this.lostReason) return;
      this.lostReason = `board error: ${err.message}`;
      this.forget();
      this.emit('lost', this.lostReason);
    });
    emulated?.on('error', (err) => {
      if (this.closing || this.lostReason) return;
      this.lostReason = `the emulated board failed: ${err.message}`;
      this.emit('lost', this.lostReason);
    });
  }

  get isLost(): boolean {
    return this.lostReason !== null;
  }

  /** Close the link on purpose (no 'lost'). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.forget();
    await this.closeTransport();
  }

  /**
   * johnny-five keeps every Board it ever made in a module-level list; drop ours, or a fleet whose
   * emulated terminals restart (crash faults) keeps every dead board, emulator included, alive.
   */
  private forget(): void {
    if (!this.j5) return;
    const cache = (five.Board as unknown as { cache: unknown[] }).cache;
    const i = cache.indexOf(this.j5);
    if (i >= 0) cache.splice(i, 1);
  }

  /**
   * Emulated only: pull the plug. The board stops abruptly and the port closes, which the host
   * sees as a lost board.
   */
  async unplug(): Promise<void> {
    if (!this.emulated) throw new Error(`a ${this.kind} board cannot be unplugged from software`);
    await this.emulated.stop();
  }

  /** The transport firmata-io talks over (for diagnostics). */
  get link(): FirmataTransport | null {
    return this.transport;
  }
}

/** Open a board and complete the Firmata handshake. Errors are one clear line each. */
export async function openBoard(options: OpenBoardOptions): Promise<OpenedBoard> {
  const t0 = performance.now();
  switch (options.kind) {
    case 'virtual':
      return new OpenedBoard('virtual', null, null, null, null, async () => undefined, 0);
    case 'serial': {
      if (!options.port) throw new Error('a serial board needs --port <path> (e.g. /dev/ttyACM0)');
      const port: SerialPort = await openSerialPort(options.port);
      let j5: J5Board;
      try {
        j5 = await connectBoard(port as unknown as FirmataTransport, {
          handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
        });
      } catch (err) {
        await closeSerialPort(port);
        throw err;
      }
      return new OpenedBoard(
        'serial',
        j5,
        null,
        firmwareLabel(j5),
        port as unknown as FirmataTransport,
        () => closeSerialPort(port),
        performance.now() - t0,
      );
    }
    case 'emulated': {
      const hex = options.hex ?? (options.hexPath ? readHexFile(options.hexPath) : undefined);
      const speed = options.speed ?? 1;
      const emu = new EmulatedBoard({
        ...(options.name ? { name: options.name } : {}),
        ...(hex ? { hex } : {}),
        speed: options.bootSpeed ?? Number.POSITIVE_INFINITY,
      });
      emu.start();
      let j5: J5Board;
      try {
        j5 = await connectBoard(emu.port, { handshakeTimeoutMs: options.handshakeTimeoutMs ?? 20_000 });
      } catch (err) {
        await emu.stop();
        throw err;
      }
      emu.setSpeed(speed);
      return new OpenedBoard(
        'emulated',
        j5,
        emu,
        firmwareLabel(j5),
        emu.port,
        () => emu.stop(),
        performance.now() - t0,
      );
    }
  }
}
