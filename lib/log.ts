/**
 * One pino logger per part. Level from STOCKGATE_LOG_LEVEL (default info; tests use silent).
 * STOCKGATE_LOG_FILE sends logs to a file instead of stdout (the supervisor sets it per child).
 */
import pino, { type Logger } from 'pino';

let root: Logger | null = null;

function rootLogger(): Logger {
  if (!root) {
    const level = process.env.STOCKGATE_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
    const file = process.env.STOCKGATE_LOG_FILE;
    root = pino(
      { level, base: { pid: process.pid } },
      file ? pino.destination({ dest: file, mkdir: true, sync: false }) : undefined,
    );
  }
  return root;
}

export function logger(part: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ part, ...bindings });
}

export type { Logger };
