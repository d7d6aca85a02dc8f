/**
 * Stock terminals for the bench: TerminalFleets (real Terminal, durable ledger with fsync, MQTT
 * side) in their own process, with shelf staff who pick committed orders and restock.
 *
 * `wave`: the terminals are started in waves of this size, each wave once the previous one is
 * online. Every terminal's first connection costs the gateway a scrypt (~50 ms of CPU with the old
 * N=16384, ~3 ms now); a thousand at once could outlast the terminals' 10 s connect timeout, and
 * each retry queued one more scrypt.
 */
import { layout } from '../../sim/layout.ts';
import { TerminalFleet, type TerminalFleetOptions } from '../../sim/terminalFleet.ts';
import { ready, serve } from '../lib/rpc.ts';

const fleets: TerminalFleet[] = [];
/** What the terminals sent: replies to commands, inventory publishes (retained, on every change). */
const sent = { replies: 0, inventories: 0 };

function count(fleet: TerminalFleet): void {
  for (const t of fleet.terminals) {
    t.on('command', () => sent.replies++);
    t.on('inventory', () => sent.inventories++);
  }
}

function stats() {
  const total = { terminals: 0, online: 0, committed: 0, picked: 0, restocked: 0, ...sent };
  for (const f of fleets) {
    const s = f.stats();
    total.terminals += s.terminals;
    total.online += s.online;
    total.committed += s.committed;
    total.picked += s.picked;
    total.restocked += s.restocked;
  }
  return total;
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

serve(
  {
    async start(opts: TerminalFleetOptions & { wave?: number }) {
      const t0 = performance.now();
      const wave = opts.wave ?? opts.terminals.length;
      let slots = 0;
      const waves: number[] = [];
      for (let i = 0; i < opts.terminals.length; i += wave) {
        const w0 = performance.now();
        const terminals = opts.terminals.slice(i, i + wave);
        const part = { ...opts, terminals, seed: opts.seed + i };
        const fleet = new TerminalFleet(part);
        fleets.push(fleet);
        await fleet.start();
        count(fleet);
        const plan = layout({
          terminals: terminals.map((t) => t.id),
          skus: opts.skus,
          maxReplicas: opts.maxReplicas,
          stock: opts.initialStock,
          seed: part.seed,
        });
        for (const skus of plan.values()) slots += Object.keys(skus).length;
        if (wave < opts.terminals.length) {
          const ok = await until(() => fleet.stats().online === terminals.length, 300_000);
          if (!ok) throw new Error(`wave ${waves.length + 1}: not every terminal online after 300 s`);
        }
        waves.push(performance.now() - w0);
      }
      return {
        startMs: performance.now() - t0,
        slots,
        waves: waves.length,
        slowestWaveMs: Math.max(...waves),
      };
    },
    /** Resolves when every terminal of the fleet says it is online, with the time it took. */
    async waitOnline({ timeoutMs }: { timeoutMs: number }) {
      const t0 = performance.now();
      await until(() => stats().online === stats().terminals, timeoutMs);
      return { ms: performance.now() - t0, online: stats().online };
    },
    stats,
  },
  async () => {
    await Promise.all(fleets.map((f) => f.stop()));
  },
);

ready();
