/**
 * A circuit breaker per terminal: after `threshold` consecutive failures (commands unanswered)
 * the terminal gets no new transactions for a cool-down, then one probe decides: an answer closes
 * the breaker, another failure opens it for twice as long (capped).
 */
import type { Bus } from './bus.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

interface Entry {
  state: BreakerState;
  failures: number;
  openUntil: number;
  coolDownMs: number;
}

export interface BreakerOptions {
  threshold: number;
  coolDownMs: number;
  maxCoolDownMs: number;
}

export class Breakers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly bus: Bus,
    private readonly opts: BreakerOptions = { threshold: 3, coolDownMs: 2000, maxCoolDownMs: 30_000 },
    private readonly now: () => number = Date.now,
  ) {}

  state(tid: string): BreakerState {
    const e = this.entries.get(tid);
    if (!e) return 'closed';
    if (e.state === 'open' && this.now() >= e.openUntil) this.set(tid, e, 'half-open');
    return e.state;
  }

  /** May a new transaction go to this terminal? */
  allows(tid: string): boolean {
    return this.state(tid) !== 'open';
  }

  success(tid: string): void {
    const e = this.entries.get(tid);
    if (!e) return;
    e.failures = 0;
    e.coolDownMs = this.opts.coolDownMs;
    if (e.state !== 'closed') this.set(tid, e, 'closed');
  }

  failure(tid: string): void {
    const e = this.entries.get(tid) ?? {
      state: 'closed' as BreakerState,
      failures: 0,
      openUntil: 0,
      coolDownMs: this.opts.coolDownMs,
    };
    this.entries.set(tid, e);
    e.failures++;
    const state = this.state(tid);
    if (state === 'half-open' || (state === 'closed' && e.failures >= this.opts.threshold)) {
      if (state === 'half-open') e.coolDownMs = Math.min(e.coolDownMs * 2, this.opts.maxCoolDownMs);
      e.openUntil = this.now() + e.coolDownMs;
      this.set(tid, e, 'open');
    }
  }

  private set(tid: string, e: Entry, state: BreakerState): void {
    e.state = state;
    this.bus.emit('breaker', { tid, state });
  }
}
