/** Runs `stockgate chaos` as a user would (a child process), and reads its verdict from its output. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ChaosRun {
  code: number | null;
  out: string;
  /** invariant -> 'ok' | 'VIOLATED' | 'SKIPPED' */
  results: Record<string, string>;
  faults: Record<string, number>;
  orders: number;
  /** Kept only when asked (`keep`): the caller removes it. */
  dataDir?: string;
}

export function runChaosCli(
  args: string[],
  env: Record<string, string> = {},
  keep = false,
): Promise<ChaosRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'stockgate-chaos-test-'));
  return new Promise((resolve) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'bin/stockgate.ts', 'chaos', '--data-dir', dataDir, ...args],
      {
        env: { ...process.env, STOCKGATE_LOG_LEVEL: 'error', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.on('exit', (code) => {
      const results: Record<string, string> = {};
      for (const m of out.matchAll(/^ {2}([a-z-]+)\s+(ok|VIOLATED|SKIPPED)/gm)) results[m[1]!] = m[2]!;
      const faults: Record<string, number> = {};
      const f = /(\d+) faults \(([^)]*)\)/.exec(out);
      for (const part of f?.[2]?.split(', ') ?? []) {
        const [name, n] = part.split(' ');
        if (name && n) faults[name] = Number(n);
      }
      const orders = Number(/chaos: (\d+) orders/.exec(out)?.[1] ?? 0);
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, out, results, faults, orders, ...(keep ? { dataDir } : {}) });
    });
  });
}
