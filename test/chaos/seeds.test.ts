/**
 * Seeded chaos runs against a real gateway process: together they cover every fault class,
 * including kill -9 of the gateway. Each prints its seed; a failing seed found on the way stays
 * here as a regression test.
 */
import { describe, expect, it } from 'vitest';
import { runChaosCli } from './run.ts';

const RUNS: { seed: number; faults: string; why: string }[] = [
  { seed: 101, faults: 'terminal-crash,freeze', why: 'terminals die and hang' },
  { seed: 102, faults: 'slow,stale', why: 'slow replies and stale inventory' },
  { seed: 103, faults: 'drop,duplicate', why: 'lossy and duplicating links' },
  { seed: 104, faults: 'delay,reorder', why: 'late and reordered messages' },
  { seed: 105, faults: 'partition,freeze', why: 'a terminal cut off' },
  { seed: 106, faults: 'gateway-crash', why: 'kill -9 of the gateway process, restarted by its supervisor' },
  { seed: 107, faults: 'client-disconnect,client-storm,cancel-race,malformed', why: 'misbehaving clients' },
  { seed: 108, faults: 'all', why: 'everything at once' },
  { seed: 2, faults: 'all', why: 'regression: clients that missed statuses saw subsequences of paths' },
];

const DURATION = process.env.STOCKGATE_CHAOS_DURATION ?? '12s';

describe('seeded chaos runs', () => {
  it.each(RUNS)(
    'seed $seed ($faults): $why',
    async ({ seed, faults }) => {
      console.log(`chaos seed ${seed} faults ${faults} duration ${DURATION}`);
      const run = await runChaosCli(['--seed', String(seed), '--duration', DURATION, '--faults', faults]);
      if (run.code !== 0) console.log(run.out);
      expect(run.out).toContain(`chaos: seed ${seed}`);
      expect(run.orders).toBeGreaterThan(50);
      // Every fault class asked for was injected.
      const asked =
        faults === 'all'
          ? []
          : faults
              .split(',')
              .filter((f) => !f.startsWith('client') && f !== 'cancel-race' && f !== 'malformed');
      for (const f of asked) expect(run.faults[f] ?? 0, `fault ${f} injected`).toBeGreaterThan(0);
      // Every invariant checked and holding: none violated, none skipped.
      for (const [invariant, status] of Object.entries(run.results)) expect(status, invariant).toBe('ok');
      expect(Object.keys(run.results)).toHaveLength(7);
      expect(run.code).toBe(0);
    },
    180_000,
  );
});
