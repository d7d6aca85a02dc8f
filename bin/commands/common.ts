/** What the CLI's commands share: reading credentials, numbers, running until a signal. */
import { InvalidArgumentError } from 'commander';
import { type DemoCredentials, readDemoCredentials } from '../../gateway/auth/demo.ts';

export function int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}]`);
    return n;
  };
}

export function num(name: string, min = 0) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
    return n;
  };
}

/** "a..b" or "a" as an inclusive integer range. */
export function range(name: string) {
  return (raw: string): [number, number] => {
    const m = /^(\d+)(?:\.\.(\d+))?$/.exec(raw);
    if (!m) throw new InvalidArgumentError(`${name} must look like 3 or 1..3`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new InvalidArgumentError(`${name}: ${hi} < ${lo}`);
    return [lo, hi];
  };
}

export function loadCredentials(file: string): DemoCredentials {
  try {
    return readDemoCredentials(file);
  } catch (err) {
    throw new Error(`cannot read credentials from ${file}: ${(err as Error).message}`);
  }
}

/**
 * Runs until SIGINT/SIGTERM (or the supervisor's IPC channel closes), then calls `stop` and exits
 * 0, or 1 if stopping failed.
 */
export function runUntilSignal(name: string, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${name}: stopping (${why})\n`);
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`${name}: stop failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('disconnect', () => shutdown('supervisor gone'));
  process.on('message', (m) => {
    if (m === 'stop') shutdown('asked by supervisor');
  });
}

/** Tells the supervisor (if any) this child is ready. */
export function announceReady(info: Record<string, unknown>): void {
  process.send?.({ ready: true, ...info });
}
