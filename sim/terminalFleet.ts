/**
 * A fleet of simulated stock terminals in one process: each a real `Terminal` (durable ledger,
 * MQTT side) on a virtual board, with shelf staff that pick committed orders after a while and
 * restock SKUs that run low.
 *
 * With `emulated: n`, the first n terminals run on emulated Unos (the real StandardFirmata on
 * avr8js) with their panel, and the shelf staff pick there by pressing the panel's pick button;
 * if the press picks nothing (board not up yet), they fall back to `pick()`.
 */
import { join } from 'node:path';
import type { BoardTerminal } from '../firmware/panel/boardTerminal.ts';
import type { PanelOptions } from '../firmware/panel/panel.ts';
import { Terminal, type TerminalOptions } from '../firmware/terminal.ts';
import { Rng } from '../lib/random.ts';
import { layout } from './layout.ts';

export interface FleetTerminal {
  id: string;
  username?: string;
  password?: string;
}

export interface TerminalFleetOptions {
  url: string;
  terminals: FleetTerminal[];
  dataDir: string;
  baseTopic?: string;
  skus: number;
  maxReplicas: number;
  initialStock: readonly [number, number];
  /** Delay between a commit and its pick, ms. */
  pickDelayMs: readonly [number, number];
  /** Restock a SKU by `amount` when its available units fall below `below`; 0 disables. */
  restockBelow: number;
  restockAmount: number;
  seed: number;
  sync?: boolean;
  /** How many terminals (the first ones) run on emulated boards with their panel (default 0). */
  emulated?: number;
  /** Panel settings of the emulated terminals. */
  panel?: Omit<PanelOptions, 'board' | 'terminal'>;
}

export interface TerminalFleetStats {
  terminals: number;
  online: number;
  committed: number;
  picked: number;
  restocked: number;
  /** Terminals on emulated boards. */
  emulated: number;
  /** Picks made by pressing an emulated pick button. */
  pressed: number;
}

/** Per terminal and SKU, what the shelf staff did (for conservation checks). */
export interface ShelfTally {
  initial: Record<string, number>;
  restocked: Record<string, number>;
  picked: Record<string, number>;
  counted: Record<string, number>;
}

export class TerminalFleet {
  /** The current instance of each terminal (a crash replaces it). */
  readonly byId = new Map<string, Terminal>();
  /** The emulated terminals' board + panel units (current instances). */
  readonly units = new Map<string, BoardTerminal>();
  readonly tallies = new Map<string, ShelfTally>();
  private plan = new Map<string, Record<string, number>>();
  crashes = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rng: Rng;
  private stopped = false;
  readonly counts = { committed: 0, picked: 0, restocked: 0, pressed: 0 };

  constructor(private readonly opts: TerminalFleetOptions) {
    this.rng = new Rng(opts.seed);
  }

  get terminals(): Terminal[] {
    return [...this.byId.values()];
  }

  async start(): Promise<void> {
    this.plan = layout({
      terminals: this.opts.terminals.map((t) => t.id),
      skus: this.opts.skus,
      maxReplicas: this.opts.maxReplicas,
      stock: this.opts.initialStock,
      seed: this.opts.seed,
    });
    await Promise.all(this.opts.terminals.map((spec) => this.launch(spec)));
    for (const t of this.terminals) {
      const initial: Record<string, number> = {};
      for (const sku of t.ledger.skus()) initial[sku] = t.ledger.item(sku)!.onHand;
      this.tallies.set(t.id, { initial, restocked: {}, picked: {}, counted: {} });
    }
  }

  /** Creates, wires and starts one terminal; it picks up committed work left from before. */
  private async launch(spec: FleetTerminal): Promise<Terminal> {
    const options: TerminalOptions = {
      id: spec.id,
      url: this.opts.url,
      ...(spec.username ? { username: spec.username } : {}),
      ...(spec.password ? { password: spec.password } : {}),
      ...(this.opts.baseTopic ? { baseTopic: this.opts.baseTopic } : {}),
      dataDir: join(this.opts.dataDir, spec.id),
      initialStock: this.plan.get(spec.id) ?? {},
      ...(this.opts.sync === undefined ? {} : { sync: this.opts.sync }),
    };
    const emulated = this.opts.terminals.indexOf(spec) < (this.opts.emulated ?? 0);
    // Loaded only when needed: a virtual fleet never loads johnny-five or avr8js.
    const unit = emulated
      ? new (await import('../firmware/panel/boardTerminal.ts')).BoardTerminal({
          terminal: options,
          board: { kind: 'emulated' },
          ...(this.opts.panel ? { panel: this.opts.panel } : {}),
        })
      : null;
    const terminal = unit ? unit.terminal : new Terminal(options);
    terminal.on('committed', (tx) => this.schedulePick(terminal, tx));
    terminal.on('picked', (_tx, lines) => {
      const tally = this.tallies.get(terminal.id);
      if (tally) for (const l of lines) tally.picked[l.sku] = (tally.picked[l.sku] ?? 0) + l.qty;
      this.maybeRestock(
        terminal,
        lines.map((l) => l.sku),
      );
    });
    terminal.on('crashRequested', (ms) => void this.crash(spec, terminal, ms ?? 1000));
    this.byId.set(spec.id, terminal);
    if (unit) {
      this.units.set(spec.id, unit);
      // A board that goes away takes its host down (last will); it comes back like after a crash.
      unit.on('lost', () => {
        if (!this.stopped && this.byId.get(spec.id) === terminal) this.later(1000, () => this.launch(spec));
      });
      await unit.start();
    } else {
      await terminal.start();
    }
    for (const p of terminal.ledger.pendingPicks()) this.schedulePick(terminal, p.tx);
    return terminal;
  }

  /** The terminal process dies (nothing not durable survives) and comes back from its ledger. */
  private async crash(spec: FleetTerminal, terminal: Terminal, downMs: number): Promise<void> {
    if (this.stopped || this.byId.get(spec.id) !== terminal) return;
    this.crashes++;
    const unit = this.units.get(spec.id);
    if (unit && unit.terminal === terminal) await unit.crash();
    else await terminal.crash();
    this.later(downMs, () => this.launch(spec));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(
      this.terminals.map((t) => {
        const unit = this.units.get(t.id);
        return unit && unit.terminal === t ? unit.stop() : t.stop();
      }),
    );
  }

  stats(): TerminalFleetStats {
    return {
      terminals: this.terminals.length,
      online: this.terminals.filter((t) => t.isOnline).length,
      emulated: this.units.size,
      ...this.counts,
    };
  }

  private later(ms: number, fn: () => Promise<unknown>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) void fn().catch(() => undefined);
    }, ms);
    this.timers.add(timer);
  }

  private schedulePick(terminal: Terminal, tx: string): void {
    this.counts.committed++;
    const [lo, hi] = this.opts.pickDelayMs;
    this.later(this.rng.int(lo, hi), async () => {
      // The instance may have crashed since: pick on the current one.
      const current = this.byId.get(terminal.id);
      if (!current) return;
      const unit = this.units.get(terminal.id);
      if (unit && unit.terminal === current && (await this.pressPick(unit))) {
        this.counts.picked++;
        this.counts.pressed++;
        return;
      }
      if ((await current.pick(tx)) === tx) this.counts.picked++;
    });
  }

  /**
   * The shelf staff press the emulated pick button: the panel picks the oldest pending pick.
   * True if that press picked something (each commit gets one press, so all get picked).
   */
  private async pressPick(unit: BoardTerminal): Promise<boolean> {
    const panel = unit.panel;
    if (!panel || !unit.terminal.isStarted) return false;
    let picked = false;
    const onAction = (action: { kind: string }, ok: boolean) => {
      if (action.kind === 'pick' && ok) picked = true;
    };
    panel.on('action', onAction);
    try {
      await unit.click('pick');
    } catch {
      return false;
    } finally {
      panel.off('action', onAction);
    }
    return picked;
  }

  private maybeRestock(terminal: Terminal, skus: string[]): void {
    if (this.opts.restockBelow <= 0) return;
    for (const sku of skus) {
      if (terminal.ledger.available(sku) < this.opts.restockBelow) {
        this.later(this.rng.int(200, 2000), async () => {
          const current = this.byId.get(terminal.id);
          if (current && current.ledger.available(sku) < this.opts.restockBelow) {
            const result = await current.restock(sku, this.opts.restockAmount);
            if (result.changed) {
              this.counts.restocked++;
              const tally = this.tallies.get(current.id);
              if (tally) tally.restocked[sku] = (tally.restocked[sku] ?? 0) + this.opts.restockAmount;
            }
          }
        });
      }
    }
  }
}
