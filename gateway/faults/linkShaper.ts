/**
 * Faults on the link between the gateway and one terminal, applied to what the gateway sends to
 * it (commands) and what it hears from it (replies, inventory, events, inquiries, state): drop,
 * duplicate, delay with jitter, reorder, partition. Randomness is seeded so a run can be replayed.
 */

import { EventEmitter } from 'node:events';
import { Rng } from '../../lib/random.ts';
import type { LinkFault } from '../../protocol/index.ts';

type Active = Exclude<LinkFault, { kind: 'heal' }>;

export class LinkShaper extends EventEmitter<{ healed: [tid: string] }> {
  private readonly faults = new Map<string, Map<Active['kind'], Active>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rng: Rng;

  constructor(seed: number) {
    super();
    this.rng = new Rng(seed);
  }

  add(tid: string, fault: Active): void {
    let m = this.faults.get(tid);
    if (!m) {
      m = new Map();
      this.faults.set(tid, m);
    }
    m.set(fault.kind, fault);
  }

  remove(tid: string, kind: Active['kind']): void {
    const m = this.faults.get(tid);
    if (!m?.delete(kind)) return;
    if (m.size === 0) {
      this.faults.delete(tid);
      this.emit('healed', tid);
    }
  }

  /** Ends every fault on the link; what was lost meanwhile is resynchronised by the listener. */
  heal(tid: string): void {
    const had = (this.faults.get(tid)?.size ?? 0) > 0;
    this.faults.delete(tid);
    if (had) this.emit('healed', tid);
  }

  /** True if any link fault is active (the fast path skips all shaping otherwise). */
  get idle(): boolean {
    for (const m of this.faults.values()) if (m.size > 0) return false;
    return true;
  }

  /** Delivers a message crossing the link to or from `tid`, as the link's faults allow. */
  pass(tid: string, deliver: () => void): void {
    const m = this.faults.get(tid);
    if (!m || m.size === 0) return deliver();
    if (m.has('partition')) return;
    const drop = m.get('drop');
    if (drop?.kind === 'drop' && this.rng.next() * 100 < drop.pct) return;
    let delay = 0;
    const d = m.get('delay');
    if (d?.kind === 'delay') delay += d.ms + (d.jitterMs ? this.rng.int(0, d.jitterMs) : 0);
    // Reorder: a random extra delay per message lets later messages overtake earlier ones.
    if (m.has('reorder')) delay += this.rng.int(0, 50);
    const dup = m.get('duplicate');
    const copies = dup?.kind === 'duplicate' && this.rng.next() * 100 < dup.pct ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const extra = i === 0 ? delay : delay + this.rng.int(0, 20);
      if (extra <= 0) deliver();
      else this.later(extra, deliver);
    }
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.faults.clear();
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}
