/**
 * Stock terminals for the bench: a TerminalFleet (real Terminal, durable ledger with fsync, MQTT
 * side) in its own process, with shelf staff who pick committed orders and restock.
 */
import { layout } from '../../sim/layout.ts';
import { type FleetTerminal, TerminalFleet, type TerminalFleetOptions } from '../../sim/terminalFleet.ts';
import { ready, serve } from '../lib/rpc.ts';

let fleet: TerminalFleet | null = null;

serve(
  {
    async start(opts: TerminalFleetOptions) {
      const t0 = performance.now();
      fleet = new TerminalFleet(opts);
      await fleet.start();
      const plan = layout({
        terminals: opts.terminals.map((t: FleetTerminal) => t.id),
        skus: opts.skus,
        maxReplicas: opts.maxReplicas,
        stock: opts.initialStock,
        seed: opts.seed,
      });
      let slots = 0;
      for (const skus of plan.values()) slots += Object.keys(skus).length;
      return { startMs: performance.now() - t0, slots };
    },
    /** Resolves when every terminal of the fleet says it is online, with the time it took. */
    async waitOnline({ timeoutMs }: { timeoutMs: number }) {
      const t0 = performance.now();
      for (;;) {
        const s = fleet?.stats();
        if (s && s.online === s.terminals) return { ms: performance.now() - t0, online: s.online };
        if (performance.now() - t0 > timeoutMs) return { ms: performance.now() - t0, online: s?.online ?? 0 };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stats() {
      return fleet?.stats() ?? null;
    },
  },
  async () => {
    await fleet?.stop();
  },
);

ready();
