/**
 * Folds a chaos-run history (analysis/history.ts), line by line, into what the report needs from
 * it: the run's meta, client operation counts and latency, the fault intervals (nemesis start/stop),
 * and from the final record each terminal's initial stock and observed inventories.
 */
import type { FaultInterval, StockPoint } from './figures.ts';
import type { FinalRead, HistoryLine, Meta } from './history.ts';

export interface ObservedSummary {
  terminal: string;
  /** inventories the run saw this terminal publish */
  published: number;
  /** SKUs with a negative field or available < 0, at the inventory seq they were seen */
  negative: {
    seq: number;
    sku: string;
    onHand: number;
    reserved: number;
    committed: number;
    available: number;
  }[];
}

interface OpenFault {
  target: string;
  kind: string;
  start: number;
  params?: Record<string, unknown>;
}

export class HistoryReducer {
  meta: Meta | null = null;
  readonly clientOps = { invoke: 0, ok: 0, fail: 0, info: 0, observe: 0 };
  readonly faults: FaultInterval[] = [];
  /** stop ops that matched no start */
  unmatchedStops = 0;
  private readonly openFaults: OpenFault[] = [];
  private readonly invoked = new Map<string, number>();
  private finalTerminals: FinalRead['terminals'] | null = null;
  private lastWall = Number.NEGATIVE_INFINITY;

  /** @param onClientLatency invoke -> ok/fail of a client's place, as the client saw it (ms) */
  constructor(private readonly onClientLatency: (ms: number) => void = () => undefined) {}

  visit(line: HistoryLine): void {
    if (line.wall > this.lastWall) this.lastWall = line.wall;
    switch (line.type) {
      case 'meta':
        this.meta = line;
        return;
      case 'final':
        this.finalTerminals = line.terminals;
        return;
      case 'observe':
        this.clientOps.observe++;
        return;
      case 'start':
      case 'stop':
        if (line.process === 'nemesis')
          this.nemesis(line.type, line.target, line.kind, line.wall, line.params);
        return;
      case 'invoke':
      case 'ok':
      case 'fail':
      case 'info': {
        this.clientOps[line.type]++;
        if (!('f' in line)) return;
        const key = `${line.process}\u0000${line.f}\u0000${line.orderId}`;
        if (line.type === 'invoke') this.invoked.set(key, line.time);
        else {
          const t0 = this.invoked.get(key);
          this.invoked.delete(key);
          if (t0 !== undefined && line.f === 'place' && line.type !== 'info')
            this.onClientLatency(line.time - t0);
        }
        return;
      }
    }
  }

  private nemesis(
    type: 'start' | 'stop',
    target: string,
    kind: string,
    wall: number,
    params: Record<string, unknown> | undefined,
  ): void {
    if (type === 'start') {
      this.openFaults.push({ target, kind, start: wall, ...(params ? { params } : {}) });
      return;
    }
    // `heal` ends every fault on the target (target `all`: every fault); otherwise the oldest open
    // fault of that kind (or, failing that, the oldest on the target).
    const onTarget =
      target === 'all' ? [...this.openFaults] : this.openFaults.filter((f) => f.target === target);
    const ending =
      kind === 'heal' || target === 'all'
        ? onTarget
        : [onTarget.find((f) => f.kind === kind) ?? onTarget[0]].filter((f) => f !== undefined);
    if (ending.length === 0) {
      // A final `heal all` with nothing left open is the runner tidying up, not an anomaly.
      if (target !== 'all') this.unmatchedStops++;
      return;
    }
    for (const f of ending) {
      this.openFaults.splice(this.openFaults.indexOf(f), 1);
      this.faults.push({ ...f, stop: wall, open: false });
    }
  }

  /** Faults never stopped, drawn to the last time the history mentions. */
  finish(): void {
    for (const f of this.openFaults.splice(0))
      this.faults.push({ ...f, stop: Math.max(this.lastWall, f.start), open: true });
    this.faults.sort((a, b) => a.start - b.start);
  }

  /** Initial stock per terminal and SKU, when the final record has it. */
  initialStock(): Record<string, Record<string, number>> | undefined {
    if (!this.finalTerminals) return undefined;
    return Object.fromEntries(Object.entries(this.finalTerminals).map(([tid, t]) => [tid, t.initial]));
  }

  /**
   * Whether the final record holds every inventory each terminal published (a series to draw). The
   * chaos runner keeps only the ones with a negative field and counts the rest in observedCount.
   */
  hasObservedSeries(): boolean {
    const ts = Object.values(this.finalTerminals ?? {});
    return (
      ts.some((t) => (t.observed?.length ?? 0) > 0) &&
      ts.every((t) => t.observedCount === undefined || t.observedCount === (t.observed?.length ?? 0))
    );
  }

  /** Per terminal: inventories published, and the SKUs found negative in any (oversold). */
  observedSummary(): ObservedSummary[] {
    const out: ObservedSummary[] = [];
    for (const [terminal, t] of Object.entries(this.finalTerminals ?? {})) {
      const negative: ObservedSummary['negative'] = [];
      for (const inv of t.observed ?? [])
        for (const [sku, i] of Object.entries(inv.items))
          if (i.onHand < 0 || i.reserved < 0 || i.committed < 0 || i.onHand - i.reserved - i.committed < 0)
            negative.push({ seq: inv.seq, sku, ...i, available: i.onHand - i.reserved - i.committed });
      out.push({
        terminal,
        published: t.observedCount ?? t.observed?.length ?? 0,
        negative: negative.slice(0, 50),
      });
    }
    return out;
  }

  /** Stock per terminal at every observed inventory (x = the inventory's seq). */
  observedPoints(): StockPoint[] {
    const out: StockPoint[] = [];
    for (const [terminal, t] of Object.entries(this.finalTerminals ?? {})) {
      for (const inv of t.observed ?? []) {
        let onHand = 0;
        let available = 0;
        let minAvailable = Number.POSITIVE_INFINITY;
        for (const item of Object.values(inv.items)) {
          const a = item.onHand - item.reserved - item.committed;
          onHand += item.onHand;
          available += a;
          if (a < minAvailable) minAvailable = a;
        }
        out.push({
          terminal,
          x: inv.seq,
          onHand,
          available,
          minAvailable: Number.isFinite(minAvailable) ? minAvailable : 0,
        });
      }
    }
    return out;
  }
}
