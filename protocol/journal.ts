/**
 * The journal's records: what the gateway appends (gateway/journal/) and the analysis replays
 * (analysis/), stored as JSON bodies in the table `records(seq, at, type, body)`. Defined here once,
 * as the format both sides rely on.
 */
import type { OrderState } from './orderState.ts';
import type { AllocationEntry, OrderLine } from './schemas.ts';

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
