/**
 * The reduce side: each reducer folds the mapper's events (mapper.ts) into one figure, in memory
 * bounded by the number of terminals, SKUs, time bins and the few orders it keeps.
 */
import type { Anomaly, Outlier, StockPoint, TerminalCounts, TerminalRow, ThroughputBin } from './figures.ts';
import type { MappedEvent, OpenOrder } from './mapper.ts';
import { Latency, LogHistogram, robustZ, TimeBins, TopK } from './stats.ts';

export interface Reducer {
  add(e: MappedEvent): void;
}

// ---------- orders by final state and reason

export class OrdersReducer implements Reducer {
  accepted = 0;
  private readonly finals = new Map<string, { state: string; reason: string | null; count: number }>();
  private readonly open = new Map<string, number>();

  add(e: MappedEvent): void {
    if (e.kind === 'accepted') this.accepted++;
    else if (e.kind === 'ended') {
      const reason = e.reason ?? null;
      const k = `${e.state}\u0000${reason}`;
      const row = this.finals.get(k);
      if (row) row.count++;
      else this.finals.set(k, { state: e.state, reason, count: 1 });
    } else if (e.kind === 'unfinished') this.open.set(e.order.state, (this.open.get(e.order.state) ?? 0) + 1);
  }

  result() {
    return {
      accepted: this.accepted,
      byFinal: [...this.finals.values()].sort((a, b) => b.count - a.count),
      open: [...this.open].map(([state, count]) => ({ state, count })),
    };
  }
}

// ---------- throughput and latency over time

interface Bin {
  accepted: number;
  confirmed: number;
  fulfilled: number;
  rejected: number;
  failed: number;
  cancelled: number;
  aborts: number;
  confirmLat: LogHistogram | null;
  finalLat: LogHistogram | null;
}

const newBin = (): Bin => ({
  accepted: 0,
  confirmed: 0,
  fulfilled: 0,
  rejected: 0,
  failed: 0,
  cancelled: 0,
  aborts: 0,
  confirmLat: null,
  finalLat: null,
});

function mergeHist(a: LogHistogram | null, b: LogHistogram | null): LogHistogram | null {
  if (!a) return b;
  if (b) a.merge(b);
  return a;
}

export class ThroughputReducer implements Reducer {
  readonly bins = new TimeBins<Bin>(newBin, (into, later) => {
    into.accepted += later.accepted;
    into.confirmed += later.confirmed;
    into.fulfilled += later.fulfilled;
    into.rejected += later.rejected;
    into.failed += later.failed;
    into.cancelled += later.cancelled;
    into.aborts += later.aborts;
    into.confirmLat = mergeHist(into.confirmLat, later.confirmLat);
    into.finalLat = mergeHist(into.finalLat, later.finalLat);
  });

  add(e: MappedEvent): void {
    switch (e.kind) {
      case 'accepted':
        this.bins.at(e.at).accepted++;
        return;
      case 'confirmed': {
        const bin = this.bins.at(e.at);
        bin.confirmed++;
        bin.confirmLat ??= new LogHistogram();
        bin.confirmLat.add(e.at - e.order.acceptedAt);
        return;
      }
      case 'ended': {
        const bin = this.bins.at(e.at);
        bin[e.state]++;
        bin.finalLat ??= new LogHistogram();
        bin.finalLat.add(e.at - e.order.acceptedAt);
        return;
      }
      case 'decided':
        if (e.decision === 'abort') this.bins.at(e.at).aborts++;
        return;
    }
  }

  result(): { binMs: number; bins: ThroughputBin[] } {
    const q = (h: LogHistogram | null, p: number) => (h && h.count > 0 ? round1(h.quantile(p)) : null);
    const bins: ThroughputBin[] = [];
    for (const [t, b = newBin()] of this.bins.entries()) {
      bins.push({
        t,
        accepted: b.accepted,
        confirmed: b.confirmed,
        fulfilled: b.fulfilled,
        rejected: b.rejected,
        failed: b.failed,
        cancelled: b.cancelled,
        aborts: b.aborts,
        confirmP50: q(b.confirmLat, 0.5),
        confirmP99: q(b.confirmLat, 0.99),
        finalP50: q(b.finalLat, 0.5),
        finalP99: q(b.finalLat, 0.99),
      });
    }
    return { binMs: this.bins.width, bins };
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

// ---------- latency distributions per phase

export const PHASES = ['accepted→confirmed', 'confirmed→fulfilled', 'accepted→final'] as const;

export class LatencyReducer implements Reducer {
  readonly phases = new Map<string, Latency>(PHASES.map((p) => [p, new Latency()]));
  negative = 0;

  add(e: MappedEvent): void {
    if (e.kind === 'confirmed') this.record('accepted→confirmed', e.at - e.order.acceptedAt);
    else if (e.kind === 'ended') {
      this.record('accepted→final', e.at - e.order.acceptedAt);
      if (e.state === 'fulfilled' && e.order.confirmedAt !== undefined)
        this.record('confirmed→fulfilled', e.at - e.order.confirmedAt);
    }
  }

  /** Extra phases from elsewhere (the history's client view). */
  record(phase: string, ms: number): void {
    if (ms < 0) this.negative++;
    let h = this.phases.get(phase);
    if (!h) {
      h = new Latency();
      this.phases.set(phase, h);
    }
    h.add(ms);
  }

  result() {
    return [...this.phases].map(([phase, h]) => ({ phase, summary: h.summary() }));
  }
}

// ---------- per terminal: success, abort, timeout rates; outliers

export class TerminalsReducer implements Reducer {
  private readonly stats = new Map<string, TerminalCounts>();

  /**
   * @param timeoutMs an abort whose prepare phase lasted at least this long counts as a timeout
   *   (the journal records the decision, not why: a terminal that answered nothing in time makes the
   *   coordinator wait out its command timeout before aborting).
   * @param minTxs terminals with fewer transactions are not scored for outliers.
   */
  constructor(
    readonly timeoutMs: number,
    readonly zThreshold = 3.5,
    readonly minTxs = 5,
  ) {}

  private of(tid: string): TerminalCounts {
    let s = this.stats.get(tid);
    if (!s) {
      s = {
        txs: 0,
        committed: 0,
        aborted: 0,
        timeouts: 0,
        released: 0,
        undecided: 0,
        unacknowledged: 0,
        picks: 0,
      };
      this.stats.set(tid, s);
    }
    return s;
  }

  add(e: MappedEvent): void {
    if (e.kind === 'decided') {
      for (const tid of e.terminals) {
        const s = this.of(tid);
        if (e.decision === 'release') {
          s.released++;
          continue;
        }
        s.txs++;
        if (e.decision === 'commit') s.committed++;
        else {
          s.aborted++;
          if (e.prepareMs !== null && e.prepareMs >= this.timeoutMs) s.timeouts++;
        }
      }
    } else if (e.kind === 'txLeft') {
      for (const tid of e.terminals) {
        const s = this.of(tid);
        if (e.decided) s.unacknowledged++;
        else {
          s.txs++;
          s.undecided++;
        }
      }
    } else if (e.kind === 'picked') this.of(e.terminal).picks++;
  }

  result(): { timeoutThresholdMs: number; zThreshold: number; rows: TerminalRow[]; outliers: Outlier[] } {
    const rate = (n: number, d: number) => (d === 0 ? 0 : n / d);
    const rows: TerminalRow[] = [...this.stats]
      .sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }))
      .map(([terminal, s]) => ({
        terminal,
        ...s,
        successRate: rate(s.committed, s.txs),
        abortRate: rate(s.aborted, s.txs),
        timeoutRate: rate(s.timeouts, s.txs),
        abortZ: 0,
        timeoutZ: 0,
      }));
    const outliers: Outlier[] = [];
    const scored = rows.filter((r) => r.txs >= this.minTxs);
    if (scored.length >= 3) {
      for (const [metric, zKey] of [
        ['abortRate', 'abortZ'],
        ['timeoutRate', 'timeoutZ'],
      ] as const) {
        const { median, scores } = robustZ(scored.map((r) => r[metric]));
        scored.forEach((r, i) => {
          const z = scores[i]!;
          r[zKey] = Math.round(z * 100) / 100;
          if (z >= this.zThreshold)
            outliers.push({ terminal: r.terminal, metric, value: r[metric], median, z: r[zKey] });
        });
      }
    }
    return { timeoutThresholdMs: this.timeoutMs, zThreshold: this.zThreshold, rows, outliers };
  }
}

// ---------- sales per SKU

export class SalesReducer implements Reducer {
  private readonly skus = new Map<string, { units: number; orders: number; cancelledUnits: number }>();

  private of(sku: string) {
    let s = this.skus.get(sku);
    if (!s) {
      s = { units: 0, orders: 0, cancelledUnits: 0 };
      this.skus.set(sku, s);
    }
    return s;
  }

  add(e: MappedEvent): void {
    if (e.kind !== 'ended') return;
    if (e.state === 'fulfilled') {
      for (const l of e.order.lines) {
        const s = this.of(l.sku);
        s.units += l.qty;
        s.orders++;
      }
    } else if (e.state === 'cancelled' && e.order.confirmedAt !== undefined) {
      for (const l of e.order.lines) this.of(l.sku).cancelledUnits += l.qty;
    }
  }

  result() {
    return [...this.skus]
      .map(([sku, s]) => ({ sku, ...s }))
      .sort((a, b) => b.units - a.units || a.sku.localeCompare(b.sku));
  }
}

// ---------- stock levels over time per terminal, from the journal

interface SkuStock {
  onHand: number;
  committed: number;
  /** onHand is absolute (an initial value was given); otherwise relative to the journal's start */
  known: boolean;
}

export class StockReducer implements Reducer {
  private readonly stock = new Map<string, Map<string, SkuStock>>();
  private readonly totals = new Map<string, { onHand: number; committed: number }>();
  readonly bins = new TimeBins<Map<string, { onHand: number; available: number }>>(
    () => new Map(),
    (into, later) => {
      for (const [k, v] of later) into.set(k, v);
    },
  );
  countsNotApplied = 0;
  private readonly initial: Record<string, Record<string, number>> | undefined;

  /** @param initial per terminal and SKU, the stock when the run began (from a history's final record) */
  constructor(initial?: Record<string, Record<string, number>>) {
    this.initial = initial;
    for (const [tid, skus] of Object.entries(initial ?? {}))
      for (const [sku, onHand] of Object.entries(skus)) this.sku(tid, sku).onHand = onHand;
  }

  get hasInitial(): boolean {
    return this.initial !== undefined;
  }

  private sku(tid: string, sku: string): SkuStock {
    let t = this.stock.get(tid);
    if (!t) {
      t = new Map();
      this.stock.set(tid, t);
      this.totals.set(tid, { onHand: 0, committed: 0 });
    }
    let s = t.get(sku);
    if (!s) {
      s = { onHand: 0, committed: 0, known: this.initial !== undefined };
      t.set(sku, s);
    }
    return s;
  }

  private move(at: number, tid: string, sku: string, dOnHand: number, dCommitted: number): void {
    const s = this.sku(tid, sku);
    s.onHand += dOnHand;
    s.committed += dCommitted;
    const tot = this.totals.get(tid)!;
    tot.onHand += dOnHand;
    tot.committed += dCommitted;
    this.bins.at(at).set(tid, { onHand: tot.onHand, available: tot.onHand - tot.committed });
  }

  add(e: MappedEvent): void {
    switch (e.kind) {
      case 'begin':
        // Recompute totals from the initial stock and draw every terminal from the start.
        for (const [tid, skus] of this.stock) {
          let onHand = 0;
          for (const s of skus.values()) onHand += s.onHand;
          this.totals.set(tid, { onHand, committed: 0 });
          this.bins.at(e.at).set(tid, { onHand, available: onHand });
        }
        return;
      case 'committed':
        for (const a of e.allocation) this.move(e.at, a.terminal, a.sku, 0, e.sign * a.qty);
        return;
      case 'picked':
        this.move(e.at, e.terminal, e.sku, -e.qty, -e.qty);
        return;
      case 'terminalEvent': {
        if (e.event === 'restock') this.move(e.at, e.terminal, e.sku, e.qty, 0);
        else {
          const s = this.sku(e.terminal, e.sku);
          if (!s.known) this.countsNotApplied++;
          else this.move(e.at, e.terminal, e.sku, e.qty - s.onHand, 0);
        }
        return;
      }
    }
  }

  /** One point per terminal per time bin from its first appearance, carried forward. */
  points(): StockPoint[] {
    const out: StockPoint[] = [];
    const last = new Map<string, { onHand: number; available: number }>();
    for (const [t, bin] of this.bins.entries()) {
      if (bin) for (const [tid, v] of bin) last.set(tid, v);
      for (const [tid, v] of last)
        out.push({ terminal: tid, x: t, onHand: v.onHand, available: v.available });
    }
    return out;
  }
}

// ---------- the slowest orders, the oldest unfinished

export interface OrderRef {
  cid: string;
  orderId: string;
  state: string;
  reason?: string;
  acceptedAt: number;
  endedAt?: number;
  latencyMs?: number;
  /** the seqs of its records (filled in as the journal goes on) */
  seqs: number[];
}

export class SlowestReducer implements Reducer {
  readonly slowest: TopK<OrderRef>;
  /** oldest first: scored by -acceptedAt */
  readonly unfinished: TopK<OrderRef>;
  unfinishedCount = 0;

  constructor(k: number) {
    this.slowest = new TopK(k);
    this.unfinished = new TopK(k);
  }

  add(e: MappedEvent): void {
    if (e.kind === 'ended') {
      const ms = e.at - e.order.acceptedAt;
      if (!this.slowest.wants(ms)) return;
      this.slowest.offer(ms, {
        ...ref(e.order),
        state: e.state,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        endedAt: e.at,
        latencyMs: ms,
      });
    } else if (e.kind === 'unfinished') {
      this.unfinishedCount++;
      this.unfinished.offer(-e.order.acceptedAt, ref(e.order));
    }
  }
}

const ref = (o: OpenOrder): OrderRef => ({
  cid: o.cid,
  orderId: o.orderId,
  state: o.state,
  acceptedAt: o.acceptedAt,
  seqs: o.seqs,
});

// ---------- anomalies

export class AnomalyReducer implements Reducer {
  private readonly kinds = new Map<string, Anomaly>();

  add(e: MappedEvent): void {
    if (e.kind === 'anomaly') this.note(e.name, e.seq, e.detail);
  }

  note(name: string, seq: number, detail: string, count = 1): void {
    let a = this.kinds.get(name);
    if (!a) {
      a = { kind: name, count: 0, samples: [] };
      this.kinds.set(name, a);
    }
    a.count += count;
    if (a.samples.length < 5) a.samples.push({ seq, detail });
  }

  result(): Anomaly[] {
    return [...this.kinds.values()].sort((a, b) => b.count - a.count);
  }
}
