/**
 * `stockgate chaos`: one seeded chaos run. Prints the seed first, shows a progress bar, writes the
 * history, prints the verdict, and exits 1 on any violation (2 if the run itself could not be done).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { randomSeed } from '../../lib/random.ts';
import { runChaos } from '../../sim/chaos/runner.ts';
import { FAULT_CLASSES, parseFaults } from '../../sim/chaos/schedule.ts';
import { int } from './common.ts';

function duration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw);
  if (!m) throw new Error(`duration must look like 20s, 1500ms or 30m, got '${raw}'`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

export function chaosCommand(program: Command): void {
  program
    .command('chaos')
    .description('a seeded chaos run against a real gateway process, checked by the invariant checker')
    .option('--seed <n>', 'random seed (printed; replay a run with it)', int('seed', 0, 2 ** 32 - 1))
    .option('--duration <d>', 'how long faults are injected (20s, 30m)', '20s')
    .option('--faults <list>', `comma-separated fault classes, or all: ${FAULT_CLASSES.join(', ')}`, 'all')
    .option('--terminals <n>', 'terminals', int('terminals', 1, 200), 4)
    .option('--clients <n>', 'client connections', int('clients', 1, 1000), 6)
    .option('--rate <orders/s>', 'order arrival rate', int('rate', 1, 10_000), 30)
    .option('--skus <n>', 'distinct SKUs (few SKUs: more contention)', int('skus', 1, 1000), 8)
    .option('--settle <d>', 'how long to wait for quiescence after healing', '60s')
    .option('--data-dir <dir>', 'where the run keeps its data and history (default: a new temp dir)')
    .action(async (o) => {
      const seed: number = o.seed ?? randomSeed();
      process.stdout.write(`chaos: seed ${seed}\n`);
      const durationMs = duration(o.duration as string);
      const faults = parseFaults(o.faults as string);
      const dataDir = resolve(
        (o.dataDir as string | undefined) ?? mkdtempSync(join(tmpdir(), `stockgate-chaos-${seed}-`)),
      );
      process.stdout.write(
        `chaos: ${durationMs / 1000}s, faults ${faults.join(',') || 'none'}, ${o.terminals} terminals, ${o.clients} clients at ${o.rate}/s, data in ${dataDir}\n`,
      );
      const bar = new SingleBar({
        format:
          'chaos [{bar}] {value}/{total}s | {phase} | orders {placed} placed, {final} final | faults {faults} | gateway restarts {restarts}',
        noTTYOutput: true,
        notTTYSchedule: 5000,
        stream: process.stderr,
      });
      bar.start(Math.round(durationMs / 1000), 0, {
        phase: 'running',
        placed: 0,
        final: 0,
        faults: 0,
        restarts: 0,
      });
      let result: Awaited<ReturnType<typeof runChaos>>;
      try {
        result = await runChaos({
          seed,
          durationMs,
          faults,
          terminals: o.terminals,
          clients: o.clients,
          rate: o.rate,
          skus: o.skus,
          dataDir,
          settleMs: duration(o.settle as string),
          onProgress: (p) =>
            bar.update(Math.min(Math.round(p.elapsedMs / 1000), Math.round(durationMs / 1000)), {
              phase: p.phase,
              placed: p.placed,
              final: p.final,
              faults: p.faults,
              restarts: p.gatewayRestarts,
            }),
        });
      } catch (err) {
        bar.stop();
        process.stderr.write(`chaos: the run failed: ${(err as Error).message}\n`);
        process.exit(2);
      }
      bar.stop();
      const { verdict } = result;
      process.stdout.write(
        `chaos: ${result.orders.placed} orders (${Object.entries(result.orders.byState)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}), ${result.faults.injected} faults (${Object.entries(result.faults.byClass)
          .map(([k, v]) => `${k} ${v}`)
          .join(
            ', ',
          )}), ${result.faults.gatewayRestarts} gateway restarts, ${result.faults.terminalCrashes} terminal crashes\n`,
      );
      for (const r of verdict.results) {
        const status = r.skipped
          ? `SKIPPED (${r.skipped})`
          : r.ok
            ? 'ok'
            : `VIOLATED (${r.violations.length})`;
        process.stdout.write(`  ${r.invariant.padEnd(24)} ${status}  [${r.checked} checked]\n`);
        for (const v of r.violations.slice(0, 5)) process.stdout.write(`      - ${v.message}\n`);
      }
      if (!result.quiescent) process.stdout.write('  (the system did not reach quiescence after healing)\n');
      process.stdout.write(`chaos: history in ${result.historyFile}\n`);
      process.stdout.write(`chaos: ${verdict.ok ? 'PASS' : 'FAIL'} (seed ${seed})\n`);
      process.exit(verdict.ok ? 0 : 1);
    });
}
