/**
 * The journal records as the analysis reads them: the same shape the gateway writes
 * (gateway/journal/journal.ts, table `records(seq, at, type, body)`), restated here because the
 * analysis reads the gateway's files and never imports its internals. test/analysis checks at
 * compile time that the two types stay the same.
 *
 * `validateRecord` is hand-written (not zod): it runs once per record, millions of times on a big
 * journal, and must never throw.
 */
import type { OrderState } from '../protocol/index.ts';

export interface Alloc {
  terminal: string;
  sku: string;
  qty: number;
}
export interface Line {
  sku: string;
  qty: number;
}
export type Decision = 'commit' | 'abort' | 'release';

export type Rec =
  | { type: 'accepted'; at: number; cid: string; orderId: string; lines: Line[] }
  | {
      type: 'state';
      at: number;
      cid: string;
      orderId: string;
      state: Exclude<OrderState, 'accepted'>;
      reason?: string;
      allocation?: Alloc[];
      tx?: string;
    }
  | { type: 'tx'; at: number; cid: string; orderId: string; tx: string; allocation: Alloc[] }
  | { type: 'decision'; at: number; cid: string; orderId: string; tx: string; decision: Decision }
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

export type RecType = Rec['type'];

const STATES = new Set(['confirmed', 'fulfilled', 'rejected', 'failed', 'cancelled']);
const DECISIONS = new Set(['commit', 'abort', 'release']);

type Obj = Record<string, unknown>;

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isQty = (v: unknown): v is number => isNum(v) && v >= 0;

function lines(v: unknown): string | null {
  if (!Array.isArray(v)) return 'lines is not an array';
  for (const l of v) {
    if (!l || typeof l !== 'object') return 'a line is not an object';
    const o = l as Obj;
    if (!isStr(o.sku) || !isQty(o.qty)) return 'a line lacks sku or qty';
  }
  return null;
}

function allocation(v: unknown): string | null {
  if (!Array.isArray(v)) return 'allocation is not an array';
  for (const a of v) {
    if (!a || typeof a !== 'object') return 'an allocation entry is not an object';
    const o = a as Obj;
    if (!isStr(o.terminal) || !isStr(o.sku) || !isQty(o.qty))
      return 'an allocation entry lacks terminal, sku or qty';
  }
  return null;
}

function orderIds(o: Obj): string | null {
  return isStr(o.cid) && isStr(o.orderId) ? null : `${o.type} without cid/orderId`;
}

/**
 * Checks one parsed body. Returns the record, or a short reason it cannot be used (the reason is
 * a category: the report counts skipped records by it).
 */
export function validateRecord(v: unknown): Rec | string {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not an object';
  const o = v as Obj;
  if (!isNum(o.at)) return 'no numeric at';
  switch (o.type) {
    case 'accepted':
      return orderIds(o) ?? lines(o.lines) ?? (o as Rec);
    case 'state': {
      if (!STATES.has(o.state as string)) return 'state record with an unknown state';
      if (o.allocation !== undefined) {
        const bad = allocation(o.allocation);
        if (bad) return bad;
      }
      return orderIds(o) ?? (o as Rec);
    }
    case 'tx':
      if (!isStr(o.tx)) return 'tx without tx id';
      return orderIds(o) ?? allocation(o.allocation) ?? (o as Rec);
    case 'decision':
      if (!isStr(o.tx)) return 'decision without tx id';
      if (!DECISIONS.has(o.decision as string)) return 'decision with an unknown decision';
      return orderIds(o) ?? (o as Rec);
    case 'tx_done':
      return isStr(o.tx) ? (o as Rec) : 'tx_done without tx id';
    case 'picked':
      if (!isStr(o.tx) || !isStr(o.terminal) || !isStr(o.sku) || !isQty(o.qty))
        return 'picked without tx, terminal, sku or qty';
      return orderIds(o) ?? (o as Rec);
    case 'terminal_event':
      if (o.kind !== 'restock' && o.kind !== 'count') return 'terminal_event with an unknown kind';
      if (!isStr(o.terminal) || !isStr(o.sku) || !isQty(o.qty))
        return 'terminal_event without terminal, sku or qty';
      return o as Rec;
    default:
      return 'unknown record type';
  }
}

export const orderKey = (cid: string, orderId: string): string => `${cid}/${orderId}`;
