/**
 * The gateway's durable journal, behind an interface a shared store (Redis, for the cluster) can
 * implement later. Records are an append-only history (what the analysis replays) and also keep
 * the current state of orders and transactions (what recovery reads).
 *
 * `append()` resolves once the record is durable. Implementations group-commit: records appended
 * in the same turn of the event loop share one sync.
 */
import type { AllocationEntry, OrderLine, OrderState } from '../../protocol/index.ts';

export type Decision = 'commit' | 'abort' | 'release';

export type JournalRecord =
  | { type: 'accepted'; at: number; cid: string; orderId: string; lines: OrderLine[] }
  | {
      type: 'state';
      at: number;
      cid: string;
      orderId: string;
      state: Exclude<OrderState, 'accepted'>;
      reason?: string;
      allocation?: AllocationEntry[];
      /** The committed transaction, from `confirmed` on. */
      tx?: string;
    }
  /** A transaction began (prepare sent). Not awaited: presumed abort covers a lost one. */
  | { type: 'tx'; at: number; cid: string; orderId: string; tx: string; allocation: AllocationEntry[] }
  /** The decision for a transaction; a commit or release is durable before it is sent. */
  | { type: 'decision'; at: number; cid: string; orderId: string; tx: string; decision: Decision }
  /** Every participant acknowledged the decision. */
  | { type: 'tx_done'; at: number; tx: string }
  | {
      type: 'picked';
      at: number;
      cid: string;
      orderId: string;
      tx: string;
      terminal: string;
      sku: string;
      qty: number;
    }
  | {
      type: 'terminal_event';
      at: number;
      terminal: string;
      kind: 'restock' | 'count';
      sku: string;
      qty: number;
      seq: number;
    };

export type JournalRecordType = JournalRecord['type'];

export interface OrderRow {
  cid: string;
  orderId: string;
  state: OrderState;
  reason?: string;
  lines: OrderLine[];
  allocation?: AllocationEntry[];
  tx?: string;
  acceptedAt: number;
  updatedAt: number;
}

export interface TxRow {
  tx: string;
  cid: string;
  orderId: string;
  allocation: AllocationEntry[];
  decision?: Decision;
  done: boolean;
  at: number;
}

export interface PickRow {
  tx: string;
  cid: string;
  orderId: string;
  terminal: string;
  sku: string;
  qty: number;
}

export interface RecoveredState {
  /** Orders not in a final state. */
  openOrders: OrderRow[];
  /** Transactions whose decision was not acknowledged by every participant (or never made). */
  openTxs: TxRow[];
  /** Picks of open orders. */
  picks: PickRow[];
  /** How many records the journal holds. */
  records: number;
}

export interface Journal {
  open(): Promise<RecoveredState>;
  append(record: JournalRecord): Promise<void>;
  /** Any order, final or not (idempotent `place` of an old order). */
  findOrder(cid: string, orderId: string): OrderRow | undefined;
  /** The SKUs each terminal has ever advertised: what counts as a known SKU right after a restart. */
  catalog(): Map<string, Set<string>>;
  rememberSkus(terminal: string, skus: readonly string[]): void;
  /** Whether any terminal ever advertised this SKU (the catalog, across restarts). */
  knowsSku(sku: string): boolean;
  /** Streams the whole history in append order. */
  history(): Iterable<JournalRecord & { journalSeq: number }>;
  close(): Promise<void>;
}
