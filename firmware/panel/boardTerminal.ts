/**
 * A whole stock terminal: the board (serial, emulated or virtual), the terminal's host program
 * (`Terminal`: ledger + MQTT) and the panel between them.
 *
 * Start order: the board first (its firmware name goes into the retained `state`), then the
 * terminal (ledger, MQTT), then the panel. A board lost while running (cable pulled, emulated board
 * stopped) is fatal to the host: the terminal dies as in a crash, so the broker publishes its last
 * will (`offline`) and the gateway stops allocating to it; its ledger stays on disk for a restart.
 */
import { EventEmitter } from 'node:events';
import type { ButtonName } from '../../hardware/pinmap.ts';
import type { EmulatedBoard } from '../boards/emulated/index.ts';
import { type BoardKind, type OpenBoardOptions, type OpenedBoard, openBoard } from '../boards/open.ts';
import { Terminal, type TerminalOptions } from '../terminal.ts';
import { Panel, type PanelOptions } from './panel.ts';

export interface BoardTerminalOptions {
  /** The terminal (its `board` and `firmware` are set from the board). */
  terminal: Omit<TerminalOptions, 'board' | 'firmware'>;
  board: OpenBoardOptions;
  /** Panel settings (ignored for virtual boards). */
  panel?: Omit<PanelOptions, 'board' | 'terminal'>;
}

export interface BoardTerminalEvents {
  /** The board went away; the terminal is already down (last will). */
  lost: [reason: string];
}

export interface BootTimes {
  /** Wall ms until the board answered the Firmata handshake (0 for virtual). */
  boardMs: number;
  /** Wall ms from start() until the terminal was online (MQTT connected, state published). */
  onlineMs: number;
}

export class BoardTerminal extends EventEmitter<BoardTerminalEvents> {
  /** The terminal's host program; listen to it before start(). */
  readonly terminal: Terminal;
  readonly kind: BoardKind;
  board: OpenedBoard | null = null;
  panel: Panel | null = null;
  private readonly opts: BoardTerminalOptions;
  private clicks: Promise<void> = Promise.resolve();
  private down = false;

  constructor(opts: BoardTerminalOptions) {
    super();
    this.opts = opts;
    this.kind = opts.board.kind;
    this.terminal = new Terminal({ ...opts.terminal, board: opts.board.kind });
  }

  get id(): string {
    return this.terminal.id;
  }

  /** The emulated Uno, for emulated boards. */
  get emulated(): EmulatedBoard | null {
    return this.board?.emulated ?? null;
  }

  /**
   * Open the board, start the terminal, attach the panel. Resolves when all three run (the
   * terminal connects to MQTT on its own: `waitOnline()`).
   */
  async start(): Promise<void> {
    const board = await openBoard({
      ...(this.kind === 'emulated' ? { name: this.terminal.id } : {}),
      ...this.opts.board,
    });
    this.board = board;
    if (this.down) {
      // stop() or crash() while the board was booting.
      await board.close();
      throw new Error(`terminal ${this.id} was stopped while starting`);
    }
    if (board.firmware) this.terminal.describeBoard(this.kind, board.firmware);
    board.on('lost', (reason) => void this.onLost(reason));
    try {
      await this.terminal.start();
    } catch (err) {
      await board.close();
      throw err;
    }
    if (this.down) {
      await this.terminal.crash();
      await board.close();
      throw new Error(`terminal ${this.id} was stopped while starting`);
    }
    if (board.j5) {
      this.panel = new Panel({ ...this.opts.panel, board: board.j5, terminal: this.terminal });
      this.panel.on('error', () => undefined);
      this.panel.start();
    }
  }

  /** start(), then wait until the terminal is online; resolves with how long each took. */
  async startOnline(timeoutMs = 30_000): Promise<BootTimes> {
    const t0 = performance.now();
    await this.start();
    await this.waitOnline(timeoutMs);
    return { boardMs: this.board?.bootMs ?? 0, onlineMs: performance.now() - t0 };
  }

  waitOnline(timeoutMs = 10_000): Promise<void> {
    const t = this.terminal;
    if (t.isOnline) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onConnection = (online: boolean) => {
        if (!online) return;
        clearTimeout(timer);
        t.off('connection', onConnection);
        resolve();
      };
      const timer = setTimeout(() => {
        t.off('connection', onConnection);
        reject(new Error(`terminal ${t.id} not online after ${timeoutMs} ms`));
      }, timeoutMs);
      t.on('connection', onConnection);
    });
  }

  /** Graceful stop: the terminal says offline, the panel detaches, the board closes. */
  async stop(): Promise<void> {
    if (this.down) return;
    this.down = true;
    this.panel?.stop();
    await this.terminal.stop();
    await this.board?.close();
  }

  /**
   * Dies as with kill -9 of the host: no DISCONNECT (the last will fires), nothing not durable
   * survives; the board loses its host (an emulated board is switched off). Start a new
   * BoardTerminal on the same data dir to restart.
   */
  async crash(): Promise<void> {
    if (this.down) return;
    this.down = true;
    this.panel?.stop();
    await this.terminal.crash();
    await this.board?.close();
  }

  /** Emulated only: pull the board's plug; the host notices and goes down (see 'lost'). */
  async unplug(): Promise<void> {
    if (!this.board) throw new Error('not started');
    await this.board.unplug();
  }

  /**
   * Emulated only: press and release a button as a person would (down, wait until the panel saw
   * it, up, wait until the panel handled it and its ledger action ran). With `holds: n` the button
   * is released after the panel saw n hold events (restock/count: select the next/previous SKU).
   * Clicks are serialised.
   */
  click(button: ButtonName, options: { holds?: number; timeoutMs?: number } = {}): Promise<void> {
    const run = async () => {
      const emu = this.emulated;
      const panel = this.panel;
      if (!emu || !panel || this.down) throw new Error(`terminal ${this.id}: no emulated panel to press`);
      const timeoutMs = options.timeoutMs ?? 5000;
      await panel.whenArmed(timeoutMs);
      const seen = (edge: 'down' | 'hold' | 'up', count = 1) =>
        new Promise<void>((resolve, reject) => {
          let left = count;
          const onButton = (b: ButtonName, e: string) => {
            if (b !== button || e !== edge || --left > 0) return;
            cleanup();
            resolve();
          };
          const timer = setTimeout(() => {
            cleanup();
            reject(
              new Error(`terminal ${this.id}: the panel did not see ${button} ${edge} in ${timeoutMs} ms`),
            );
          }, timeoutMs);
          const cleanup = () => {
            clearTimeout(timer);
            panel.off('button', onButton);
          };
          panel.on('button', onButton);
        });
      const downSeen = seen('down');
      const holdsSeen = options.holds ? seen('hold', options.holds) : null;
      emu.press(button);
      try {
        await downSeen;
        await holdsSeen;
      } finally {
        const upSeen = seen('up');
        emu.release(button);
        await upSeen;
      }
      await panel.idle();
    };
    const next = this.clicks.then(run, run);
    this.clicks = next.catch(() => undefined);
    return next;
  }

  private async onLost(reason: string): Promise<void> {
    if (this.down) return;
    this.down = true;
    this.panel?.stop();
    await this.terminal.crash().catch(() => undefined);
    this.emit('lost', reason);
  }
}
