/** Waiting on events with a deadline: the only way tests and tools synchronise. */
import type { EventEmitter } from 'node:events';

export class TimeoutError extends Error {}

/** Resolves when `predicate()` becomes true, checking whenever `emitter` emits `event`. */
export function until(
  emitter: EventEmitter,
  events: string | string[],
  predicate: () => boolean,
  timeoutMs: number,
  what = 'condition',
): Promise<void> {
  if (predicate()) return Promise.resolve();
  const names = Array.isArray(events) ? events : [events];
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) {
        cleanup();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      for (const n of names) emitter.off(n, check);
    };
    for (const n of names) emitter.on(n, check);
  });
}

/** Rejects with a named TimeoutError if `promise` does not settle in time. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
