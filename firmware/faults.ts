/**
 * Faults a terminal can be told to suffer (stockgate/faults/terminals/<tid>): freeze (stay
 * connected, answer nothing), slow (every reply delayed), stale (inventory stops updating) and
 * crash (the owner restarts the terminal from its ledger). Each ends with `heal` or `durationMs`.
 */
import { EventEmitter } from 'node:events';
import type { TerminalFault } from '../protocol/index.ts';

export type TerminalFaultKind = 'freeze' | 'slow' | 'stale';

export class TerminalFaultState extends EventEmitter<{
  crash: [durationMs: number | undefined];
  changed: [];
}> {
  private readonly active = new Map<TerminalFaultKind, { ms?: number; timer?: NodeJS.Timeout }>();

  get frozen(): boolean {
    return this.active.has('freeze');
  }

  get stale(): boolean {
    return this.active.has('stale');
  }

  /** Extra delay before each reply, ms. */
  get slowMs(): number {
    return this.active.get('slow')?.ms ?? 0;
  }

  kinds(): TerminalFaultKind[] {
    return [...this.active.keys()];
  }

  apply(fault: TerminalFault): void {
    if (fault.kind === 'heal') return this.healAll();
    if (fault.kind === 'crash') {
      this.emit('crash', fault.durationMs);
      return;
    }
    this.clear(fault.kind);
    const entry: { ms?: number; timer?: NodeJS.Timeout } = fault.kind === 'slow' ? { ms: fault.ms } : {};
    if (fault.durationMs) {
      entry.timer = setTimeout(() => {
        this.active.delete(fault.kind as TerminalFaultKind);
        this.emit('changed');
      }, fault.durationMs);
    }
    this.active.set(fault.kind, entry);
    this.emit('changed');
  }

  healAll(): void {
    for (const kind of [...this.active.keys()]) this.clear(kind);
    this.emit('changed');
  }

  private clear(kind: TerminalFaultKind): void {
    const entry = this.active.get(kind);
    if (entry?.timer) clearTimeout(entry.timer);
    this.active.delete(kind);
  }
}
