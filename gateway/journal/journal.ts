/**
 * The gateway's durable journal, behind an interface a shared store (Redis, for the cluster) can
 * implement later. Records are an append-only history (what the analysis replays) and also keep
 * the current state of orders and transactions (what recovery reads).
 *
 * `append()` resolves once the record is durable. Implementations group-commit: records appended
 * in the same turn of the event loop share one sync.
 */
import type {
  AllocationEntry,
  Decision,
  JournalRecord,
  OrderLine,
  OrderState,
} from '../../protocol/index.ts';

export type { Decision, JournalRecord, JournalRecordType } from '../../protocol/index.ts';

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
