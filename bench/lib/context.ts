/** What every phase of the bench gets: where to write, how long to run, and a log line. */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Worker, type WorkerSpec } from './worker.ts';

export interface BenchContext {
  quick: boolean;
  /** --profile: the profiled phases run their gateway with --cpu-prof. */
  profile: boolean;
  seed: number;
  /** Scratch data (gateway data dirs, ledgers, logs): a temp dir, removed at the end unless kept. */
  workDir: string;
  /** Where results (and profiles) go. */
  outDir: string;
  stamp: string;
  log: (line: string) => void;
  /** Every worker started, so that a failing phase never leaves one behind. */
  workers: Set<Worker>;
  /** Other child processes (mosquitto) to kill if the bench fails. */
  procs: Set<ChildProcess>;
}

export function workerScript(name: string): string {
  return new URL(`../workers/${name}.ts`, import.meta.url).pathname;
}

export async function startWorker(
  ctx: BenchContext,
  spec: Omit<WorkerSpec, 'logFile'> & { logFile?: string },
): Promise<Worker> {
  const w = await Worker.start({
    ...spec,
    logFile: spec.logFile ?? join(ctx.workDir, 'logs', `${spec.name}.log`),
  });
  ctx.workers.add(w);
  void w.exited.then(() => ctx.workers.delete(w));
  return w;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
