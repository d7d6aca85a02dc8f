import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { analyze, loadVerdict } from '../../analysis/analyze.ts';
import { publishLatest, renderFiles, timestampDir, writeReport } from '../../analysis/report.ts';
import { ProgressLine } from '../../lib/progress.ts';
import { int } from './common.ts';

interface Options {
  data?: string;
  history?: string;
  verdict?: string;
  check: boolean;
  out?: string;
  timeoutMs?: number;
  slowest?: number;
}

export function analyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description(
      'analyse the journal (and a chaos-run history) into a self-contained HTML report and figures.json',
    )
    .option('--data <dir>', 'data directory holding journal.sqlite (STOCKGATE_DATA_DIR, default ./data)')
    .option('--history <file>', 'a chaos-run history (JSONL): faults, client view, observed inventories')
    .option(
      '--verdict <file>',
      "the invariant checker's verdict (JSON) to include instead of running the checker",
    )
    .option('--no-check', 'do not run the invariant checker on the history')
    .option(
      '--out <dir>',
      'where to write the report (default <data>/reports/<timestamp>, and <data>/reports/latest)',
    )
    .option(
      '--timeout-ms <ms>',
      'an abort this long after its prepare counts as a terminal timeout (the gateway command timeout)',
      int('--timeout-ms', 1),
      1000,
    )
    .option('--slowest <n>', 'how many of the slowest orders to trace', int('--slowest', 0, 1000), 10)
    .action(async (o: Options) => {
      const started = performance.now();
      const dataDir = resolve(o.data ?? process.env.STOCKGATE_DATA_DIR ?? './data');
      let done = 0;
      let total = 0;
      const progress = new ProgressLine(
        () => `analyze: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} records`,
      );
      // Progress only on a terminal: in logs and on failure, the output stays what it says below.
      const tty = Boolean(process.stderr.isTTY);
      if (tty) progress.start();
      let figures: Awaited<ReturnType<typeof analyze>>;
      try {
        figures = await analyze({
          journal: join(dataDir, 'journal.sqlite'),
          ...(o.history ? { history: resolve(o.history) } : {}),
          ...(o.verdict ? { verdict: { verdict: loadVerdict(o.verdict), source: resolve(o.verdict) } } : {}),
          check: o.check,
          ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
          ...(o.slowest !== undefined ? { slowest: o.slowest } : {}),
          onProgress: (seq, max) => {
            done = seq;
            total = max;
          },
        });
      } catch (err) {
        if (tty) process.stderr.write('\r\x1b[2K');
        throw err;
      }
      if (tty) progress.stop();
      const files = renderFiles(figures);
      const reportsDir = join(dataDir, 'reports');
      const out = o.out ? writeReport(files, resolve(o.out)) : writeReport(files, timestampDir(reportsDir));
      const latest = o.out ? null : publishLatest(files, reportsDir);
      const seconds = (performance.now() - started) / 1000;
      const rssMb = process.resourceUsage().maxRSS / 1024;
      const j = figures.journal;
      process.stdout.write(
        [
          `report   ${out}`,
          ...(latest ? [`latest   ${latest}`] : []),
          `figures  ${join(dirname(out), 'figures.json')}`,
          `analysed ${j.records.toLocaleString('en-US')} records (${j.skipped.toLocaleString('en-US')} skipped), ${figures.orders.accepted.toLocaleString('en-US')} orders in ${seconds.toFixed(1)} s, peak RSS ${rssMb.toFixed(0)} MB`,
          `verdict  ${verdictLine(figures)}`,
          '',
        ].join('\n'),
      );
    });
}

function verdictLine(f: Awaited<ReturnType<typeof analyze>>): string {
  if (f.checkerError !== null) return `the checker failed: ${f.checkerError}`;
  if (!f.verdict) return 'not checked (no history)';
  if (f.verdict.ok) return 'all invariants hold';
  const bad = f.verdict.results.filter((r) => !r.ok && r.skipped === undefined).map((r) => r.invariant);
  return `VIOLATED: ${bad.join(', ')} (see the report)`;
}
