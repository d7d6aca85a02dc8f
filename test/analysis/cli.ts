/** Runs `stockgate analyze` as a user would: a child process, its exit status and its output. */
import { type RunResult, stockgate } from '../helpers/run.ts';

export type Run = RunResult;

export function runAnalyze(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return stockgate(['analyze', ...args], { env: { ...process.env, ...env } });
}
