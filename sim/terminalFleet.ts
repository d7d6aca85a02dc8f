/**
 * A fleet of simulated stock terminals in one process: each a real `Terminal` (durable ledger,
 * MQTT side) on a virtual board, with shelf staff that pick committed orders after a while and
 * restock SKUs that run low.
 */
import { join } from 'node:path';
import { Terminal } from '../firmware/terminal.ts';
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
}

export interface TerminalFleetStats {
  terminals: number;
  online: number;
  committed: number;
  picked: number;
  restocked: number;
}

export class TerminalFleet {
  readonly terminals: Terminal[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rng: Rng;
  private stopped = false;
  readonly counts = { committed: 0, picked: 0, restocked: 0 };

  constructor(private readonly opts: TerminalFleetOptions) {
    this.rng = new Rng(opts.seed);
  }

  async start(): Promise<void> {
    const plan = layout({
      terminals: this.opts.terminals.map((t) => t.id),
      skus: this.opts.skus,
      maxReplicas: this.opts.maxReplicas,
      stock: this.opts.initialStock,
      seed: this.opts.seed,
    });
    for (const spec of this.opts.terminals) {
      const terminal = new Terminal({
        id: spec.id,
        url: this.opts.url,
        ...(spec.username ? { username: spec.username } : {}),
        ...(spec.password ? { password: spec.password } : {}),
        ...(this.opts.baseTopic ? { baseTopic: this.opts.baseTopic } : {}),
        dataDir: join(this.opts.dataDir, spec.id),
        initialStock: plan.get(spec.id) ?? {},
        ...(this.opts.sync === undefined ? {} : { sync: this.opts.sync }),
      });
      terminal.on('committed', (tx) => this.schedulePick(terminal, tx));
      terminal.on('picked', (_tx, lines) =>
        this.maybeRestock(
          terminal,
          lines.map((l) => l.sku),
        ),
      );
      this.terminals.push(terminal);
    }
    await Promise.all(this.terminals.map((t) => t.start()));
    // Committed but unpicked work from a previous run is picked too.
    for (const t of this.terminals) for (const p of t.ledger.pendingPicks()) this.schedulePick(t, p.tx);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.terminals.map((t) => t.stop()));
  }

  stats(): TerminalFleetStats {
    return {
      terminals: this.terminals.length,
      online: this.terminals.filter((t) => t.isOnline).length,
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
      if ((await terminal.pick(tx)) === tx) this.counts.picked++;
    });
  }

  private maybeRestock(terminal: Terminal, skus: string[]): void {
    if (this.opts.restockBelow <= 0) return;
    for (const sku of skus) {
      if (terminal.ledger.available(sku) < this.opts.restockBelow) {
        this.later(this.rng.int(200, 2000), async () => {
          if (terminal.ledger.available(sku) < this.opts.restockBelow) {
            await terminal.restock(sku, this.opts.restockAmount);
            this.counts.restocked++;
          }
        });
      }
    }
  }
}
