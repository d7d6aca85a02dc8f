/**
 * The checker is only worth something if it catches a broken system. Each mutation breaks one
 * guarantee on purpose (STOCKGATE_MUTATION, see lib/mutations.ts); the chaos run must then fail
 * with the invariant that guarantee protects.
 */
import { describe, expect, it } from 'vitest';
import { runChaosCli } from './run.ts';

const CASES: {
  mutation: string;
  faults: string;
  env: Record<string, string>;
  catches: string[];
  why: string;
}[] = [
  {
    mutation: 'skip-journal',
    faults: 'gateway-crash',
    env: {},
    catches: ['no-lost-order'],
    why: 'orders announced accepted but never journaled are lost when the gateway dies',
  },
  {
    mutation: 'commit-without-prepare',
    faults: 'none',
    env: {},
    catches: ['atomicity'],
    why: 'a commit no terminal prepared commits nothing while the order says confirmed',
  },
  {
    mutation: 'release-on-ttl',
    faults: 'delay',
    env: { STOCKGATE_RESERVATION_TTL_MS: '200' },
    catches: ['atomicity'],
    why: 'a terminal that drops a prepared reservation when its TTL passes cannot commit it',
  },
  {
    mutation: 'no-dedupe',
    faults: 'duplicate',
    env: {},
    catches: ['exactly-once'],
    why: 'a duplicated prepare reserves twice',
  },
];

describe('mutations are caught by the checker', () => {
  it.each(CASES)(
    '$mutation: $why',
    async ({ mutation, faults, env, catches }) => {
      const seed = 7;
      console.log(`mutation ${mutation} seed ${seed}`);
      const run = await runChaosCli(
        ['--seed', String(seed), '--duration', '8s', '--faults', faults, '--rate', '40', '--settle', '15s'],
        {
          STOCKGATE_MUTATION: mutation,
          ...env,
        },
      );
      if (run.code !== 1) console.log(run.out);
      expect(run.code).toBe(1);
      for (const invariant of catches) expect(run.results[invariant], invariant).toBe('VIOLATED');
    },
    180_000,
  );
});
