/**
 * The journal records as the analysis reads them: the format the gateway writes, defined once in
 * protocol/journal.ts (table `records(seq, at, type, body)`).
 *
 * `validateRecord` is hand-written (not zod): it runs once per record, millions of times on a big
 * journal, and must never throw.
 */
import type { AllocationEntry, Decision, JournalRecord, OrderLine } from '../protocol/index.ts';

export type Rec = JournalRecord;
export type Alloc = AllocationEntry;
export type Line = OrderLine;
export type { Decision };

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
