/**
 * `stockgate bench`: the same workloads every time, a table, and the results in
 * bench/results/<timestamp>.json and bench/results/latest.json (see bench/run.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_SEED, PHASES, type Phase, runBench } from '../../bench/run.ts';
import { int } from './common.ts';

function phases(raw: string): Phase[] {
  const list = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of list)
    if (!(PHASES as readonly string[]).includes(p))
      throw new Error(`unknown phase '${p}': one of ${PHASES.join(', ')}`);
  return list as Phase[];
}

export function benchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'benchmarks: broker baseline, sustainable orders/s, scale of one node, recovery (and a CPU profile)',
    )
    .option('--quick', 'small and short workloads (CI smoke): the figures mean little')
    .option('--only <phases>', `comma-separated subset of: ${PHASES.join(', ')}`)
    .option('--profile', 'also run the order workload with --cpu-prof and report the top overheads')
    .option(
      '--profile-rate <orders/s>',
      'offered rate of the profiled run (default: 70% of the maximum found)',
      int('rate', 1, 100_000),
    )
    .option(
      '--recovery-rate <orders/s>',
      'offered rate of the recovery phase (default: half the maximum found, or 100 without the orders phase)',
      int('rate', 1, 100_000),
    )
    .option('--out <dir>', 'where results go', 'bench/results')
    .option('--seed <n>', 'seed of every random choice', int('seed', 0, 2 ** 32 - 1), DEFAULT_SEED)
    .option('--keep', 'keep the scratch directory (data dirs, logs)')
    .action(
      async (o: {
        quick?: boolean;
        only?: string;
        profile?: boolean;
        profileRate?: number;
        recoveryRate?: number;
        out: string;
        seed: number;
        keep?: boolean;
      }) => {
        const selected = o.only ? phases(o.only) : PHASES.filter((p) => p !== 'profile' || o.profile);
        const { file } = await runBench({
          quick: !!o.quick,
          phases: selected,
          outDir: resolve(o.out),
          seed: o.seed,
          keep: !!o.keep,
          ...(o.profileRate !== undefined ? { profileRate: o.profileRate } : {}),
          ...(o.recoveryRate !== undefined ? { recoveryRate: o.recoveryRate } : {}),
        });
        process.stdout.write(`results: ${file}\n`);
        process.exit(0);
      },
    );
}
