/**
 * What the report shows, as data: written as figures.json beside index.html. Times are epoch ms
 * (journal `at`, history `wall`), durations ms.
 */
import type { Verdict } from './checker/verdict.ts';
import type { ObservedSummary } from './historyReducer.ts';
import type { Rec } from './journalRecord.ts';
import type { LatencySummary } from './stats.ts';

export const FINALS = ['fulfilled', 'rejected', 'failed', 'cancelled'] as const;
export type FinalState = (typeof FINALS)[number];

export interface ThroughputBin {
  /** bin start, epoch ms */
  t: number;
  accepted: number;
  confirmed: number;
  fulfilled: number;
  rejected: number;
  failed: number;
  cancelled: number;
  /** transactions aborted in this bin */
  aborts: number;
  /** accepted -> confirmed of the orders confirmed in this bin (log-binned estimate, +-12%) */
  confirmP50: number | null;
  confirmP99: number | null;
  /** accepted -> final of the orders that ended in this bin */
  finalP50: number | null;
  finalP99: number | null;
}

/** What the journal says happened at one terminal. */
export interface TerminalCounts {
  /** transactions that involved it (prepare sent) */
  txs: number;
  committed: number;
  aborted: number;
  /** aborted transactions whose prepare phase lasted >= the timeout threshold (inferred) */
  timeouts: number;
  released: number;
  /** no decision in the journal */
  undecided: number;
  /** decided but never acknowledged by every participant */
  unacknowledged: number;
  picks: number;
}

export interface TerminalRow extends TerminalCounts {
  terminal: string;
  successRate: number;
  abortRate: number;
  timeoutRate: number;
  abortZ: number;
  timeoutZ: number;
}

export interface Outlier {
  terminal: string;
  metric: 'abortRate' | 'timeoutRate';
  value: number;
  median: number;
  z: number;
}

export interface FaultInterval {
  target: string;
  kind: string;
  start: number;
  stop: number;
  /** never stopped in the history: drawn to the end of the run */
  open: boolean;
  params?: Record<string, unknown>;
}

export interface StockPoint {
  terminal: string;
  /** epoch ms (journal) or the inventory seq (history observed) */
  x: number;
  onHand: number;
  available: number;
  /** the smallest available over the terminal's SKUs at that point (negative = oversold) */
  minAvailable?: number;
}

export interface TracedOrder {
  cid: string;
  orderId: string;
  state: string;
  reason?: string;
  acceptedAt: number;
  endedAt?: number;
  latencyMs?: number;
  trace: { seq: number; rec: Rec }[];
}

export interface Anomaly {
  kind: string;
  count: number;
  samples: { seq: number; detail: string }[];
}

export interface Figures {
  generatedAt: string;
  inputs: { journal: string; history: string | null; verdict: string | null };
  journal: {
    records: number;
    skipped: number;
    skippedByReason: Record<string, number>;
    skippedSamples: { seq: number; reason: string }[];
    firstAt: number | null;
    lastAt: number | null;
  };
  history: {
    lines: number;
    truncatedLine: number | null;
    meta: { seed: number; faults: string[]; terminals: number; clients: number; durationMs: number } | null;
    clientOps: Record<'invoke' | 'ok' | 'fail' | 'info' | 'observe', number>;
  } | null;
  orders: {
    accepted: number;
    byFinal: { state: string; reason: string | null; count: number }[];
    /** accepted and never final, by current state */
    open: { state: string; count: number }[];
  };
  throughput: { binMs: number; bins: ThroughputBin[] };
  latency: { phase: string; summary: LatencySummary }[];
  terminals: { timeoutThresholdMs: number; zThreshold: number; rows: TerminalRow[]; outliers: Outlier[] };
  sales: { sku: string; units: number; orders: number; cancelledUnits: number }[];
  stock: {
    source: 'history-observed' | 'journal-with-initial' | 'journal-relative';
    x: 'time' | 'seq';
    binMs: number | null;
    points: StockPoint[];
    notes: string[];
    /** from the history: inventories published per terminal and any oversold SKU seen in them */
    observed: ObservedSummary[];
  };
  faults: FaultInterval[];
  slowest: TracedOrder[];
  unfinished: { count: number; oldest: TracedOrder[] };
  anomalies: Anomaly[];
  verdict: Verdict | null;
  /** the checker ran and threw: its message */
  checkerError: string | null;
}
