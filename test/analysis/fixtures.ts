/**
 * A small journal with known answers, written with the real SqliteJournal, and a realistic chaos-run
 * history over the same orders (valid per analysis/history.ts: client ops, observations, nemesis
 * start/stop, meta and a final record). The real chaos runner does not exist yet: this history
 * stands in for it.
 *
 * The orders (T0 = 2026-01-01 12:00 UTC, times in ms after each order's acceptance):
 * - n0..n19 (c1): one line, A x1 (even i) or B x2 (odd i), at t(1 + i % 5); tx +1, commit +5,
 *   confirmed +10+i, tx_done +11+i, picked +2000, fulfilled +2001.
 * - f0..f4 (c2): D x1; first tx at t6 aborted after 3000 ms (a timeout), tx_done +3002; second tx at
 *   t1 +3003, commit +3010, confirmed +3012, tx_done +3013, picked +5000+10i, fulfilled +5001+10i.
 * - r0, r1 (c3): rejected out_of_stock at +3, no tx.
 * - x0 (c3): failed terminals_unavailable at +5000, no tx.
 * - k0 (c4): cancelled before confirm at +50. k1 (c4): C x3 at t2, committed, confirmed +10,
 *   release +500, cancelled +600.
 * - u0 (c5): E x4 at t3, confirmed +20, never picked. u1 (c5): F x1, tx at t4 never decided.
 * - terminal events: restock t1 A +10 at T0+100; count t2 B = 7 at T0+200.
 */
import { writeFileSync } from 'node:fs';
import type { FinalRead, HistoryLine } from '../../analysis/history.ts';
import type { JournalRecord } from '../../gateway/journal/journal.ts';
import { SqliteJournal } from '../../gateway/journal/sqliteJournal.ts';

export const T0 = Date.UTC(2026, 0, 1, 12);

interface Built {
  records: JournalRecord[];
  /** order key -> [accepted at, final at | undefined, final state | open state] */
  orders: Map<string, { cid: string; orderId: string; acceptedAt: number; endedAt?: number; state: string }>;
}

export function buildRecords(): Built {
  const records: JournalRecord[] = [];
  const orders: Built['orders'] = new Map();
  const add = (r: JournalRecord) => records.push(r);
  const order = (cid: string, orderId: string, at: number, lines: { sku: string; qty: number }[]) => {
    add({ type: 'accepted', at, cid, orderId, lines });
    orders.set(`${cid}/${orderId}`, { cid, orderId, acceptedAt: at, state: 'accepted' });
    return { cid, orderId };
  };
  const end = (o: { cid: string; orderId: string }, at: number, state: string) => {
    const row = orders.get(`${o.cid}/${o.orderId}`)!;
    row.state = state;
    if (state !== 'confirmed') row.endedAt = at;
  };

  for (let i = 0; i < 20; i++) {
    const a = T0 + i * 1000;
    const line = i % 2 === 0 ? { sku: 'A', qty: 1 } : { sku: 'B', qty: 2 };
    const o = order('c1', `n${i}`, a, [line]);
    const allocation = [{ terminal: `t${1 + (i % 5)}`, ...line }];
    const tx = `tx-n${i}`;
    add({ type: 'tx', at: a + 1, ...o, tx, allocation });
    add({ type: 'decision', at: a + 5, ...o, tx, decision: 'commit' });
    add({ type: 'state', at: a + 10 + i, ...o, state: 'confirmed', allocation, tx });
    add({ type: 'tx_done', at: a + 11 + i, tx });
    add({ type: 'picked', at: a + 2000, ...o, tx, terminal: allocation[0]!.terminal, ...line });
    add({ type: 'state', at: a + 2001, ...o, state: 'fulfilled' });
    end(o, a + 2001, 'fulfilled');
  }
  for (let i = 0; i < 5; i++) {
    const a = T0 + 30_000 + i * 1000;
    const o = order('c2', `f${i}`, a, [{ sku: 'D', qty: 1 }]);
    const bad = [{ terminal: 't6', sku: 'D', qty: 1 }];
    const good = [{ terminal: 't1', sku: 'D', qty: 1 }];
    add({ type: 'tx', at: a + 1, ...o, tx: `tx-f${i}a`, allocation: bad });
    add({ type: 'decision', at: a + 3001, ...o, tx: `tx-f${i}a`, decision: 'abort' });
    add({ type: 'tx_done', at: a + 3002, tx: `tx-f${i}a` });
    add({ type: 'tx', at: a + 3003, ...o, tx: `tx-f${i}b`, allocation: good });
    add({ type: 'decision', at: a + 3010, ...o, tx: `tx-f${i}b`, decision: 'commit' });
    add({ type: 'state', at: a + 3012, ...o, state: 'confirmed', allocation: good, tx: `tx-f${i}b` });
    add({ type: 'tx_done', at: a + 3013, tx: `tx-f${i}b` });
    add({ type: 'picked', at: a + 5000 + 10 * i, ...o, tx: `tx-f${i}b`, terminal: 't1', sku: 'D', qty: 1 });
    add({ type: 'state', at: a + 5001 + 10 * i, ...o, state: 'fulfilled' });
    end(o, a + 5001 + 10 * i, 'fulfilled');
  }
  for (const [id, at] of [
    ['r0', T0 + 21_000],
    ['r1', T0 + 22_000],
  ] as const) {
    const o = order('c3', id, at, [{ sku: 'Z', qty: 9 }]);
    add({ type: 'state', at: at + 3, ...o, state: 'rejected', reason: 'out_of_stock' });
    end(o, at + 3, 'rejected');
  }
  {
    const a = T0 + 23_000;
    const o = order('c3', 'x0', a, [{ sku: 'A', qty: 1 }]);
    add({ type: 'state', at: a + 5000, ...o, state: 'failed', reason: 'terminals_unavailable' });
    end(o, a + 5000, 'failed');
  }
  {
    const a = T0 + 24_000;
    const k0 = order('c4', 'k0', a, [{ sku: 'A', qty: 1 }]);
    add({ type: 'state', at: a + 50, ...k0, state: 'cancelled', reason: 'cancelled_by_client' });
    end(k0, a + 50, 'cancelled');
    const b = T0 + 25_000;
    const k1 = order('c4', 'k1', b, [{ sku: 'C', qty: 3 }]);
    const allocation = [{ terminal: 't2', sku: 'C', qty: 3 }];
    add({ type: 'tx', at: b + 1, ...k1, tx: 'tx-k1', allocation });
    add({ type: 'decision', at: b + 5, ...k1, tx: 'tx-k1', decision: 'commit' });
    add({ type: 'state', at: b + 10, ...k1, state: 'confirmed', allocation, tx: 'tx-k1' });
    add({ type: 'tx_done', at: b + 11, tx: 'tx-k1' });
    add({ type: 'decision', at: b + 500, ...k1, tx: 'tx-k1', decision: 'release' });
    add({ type: 'tx_done', at: b + 510, tx: 'tx-k1' });
    add({ type: 'state', at: b + 600, ...k1, state: 'cancelled', reason: 'cancelled_by_client' });
    end(k1, b + 600, 'cancelled');
  }
  {
    const a = T0 + 40_000;
    const u0 = order('c5', 'u0', a, [{ sku: 'E', qty: 4 }]);
    const allocation = [{ terminal: 't3', sku: 'E', qty: 4 }];
    add({ type: 'tx', at: a + 1, ...u0, tx: 'tx-u0', allocation });
    add({ type: 'decision', at: a + 5, ...u0, tx: 'tx-u0', decision: 'commit' });
    add({ type: 'state', at: a + 20, ...u0, state: 'confirmed', allocation, tx: 'tx-u0' });
    add({ type: 'tx_done', at: a + 21, tx: 'tx-u0' });
    end(u0, a + 20, 'confirmed');
    const b = T0 + 41_000;
    const u1 = order('c5', 'u1', b, [{ sku: 'F', qty: 1 }]);
    add({ type: 'tx', at: b + 1, ...u1, tx: 'tx-u1', allocation: [{ terminal: 't4', sku: 'F', qty: 1 }] });
  }
  add({ type: 'terminal_event', at: T0 + 100, terminal: 't1', kind: 'restock', sku: 'A', qty: 10, seq: 1 });
  add({ type: 'terminal_event', at: T0 + 200, terminal: 't2', kind: 'count', sku: 'B', qty: 7, seq: 1 });

  // Append order = time order (stable: records of one order keep their order on ties).
  records.sort((a, b) => a.at - b.at);
  return { records, orders };
}

/** Writes the records through the real SqliteJournal (its schema, its group commit). */
export async function writeJournal(file: string, records: readonly JournalRecord[]): Promise<void> {
  const j = new SqliteJournal(file);
  await j.open();
  j.rememberSkus('t1', ['A', 'B', 'D']);
  await Promise.all(records.map((r) => j.append(r)));
  await j.close();
}

export const INITIAL: Record<string, Record<string, number>> = {
  t1: { A: 20, B: 20, D: 10 },
  t2: { A: 20, B: 20, C: 5 },
  t3: { A: 20, B: 20, E: 10 },
  t4: { A: 20, B: 20, F: 5 },
  t5: { A: 20, B: 20 },
  t6: { D: 10 },
};

export interface HistoryOptions {
  /**
   * Observed inventories in the final record: 'all' (every one, the stock figure then comes from
   * them) or 'negative' as the chaos runner keeps them (only those with a negative field, the rest
   * counted in observedCount).
   */
  observed?: 'all' | 'negative';
}

type Items = Record<string, { onHand: number; reserved: number; committed: number }>;

/** Three inventories per terminal; at t1 the second shows A oversold (available -1). */
function observedOf(
  tid: string,
  initial: Record<string, number>,
  items: Items,
  mode: HistoryOptions['observed'],
): Partial<FinalRead['terminals'][string]> {
  if (!mode) return {};
  const second: Items = Object.fromEntries(
    Object.entries(initial).map(([sku, n]) => [
      sku,
      { onHand: n, reserved: 1, committed: tid === 't1' && sku === 'A' ? n : 0 },
    ]),
  );
  if (mode === 'all')
    return {
      observed: [
        { seq: 1, items },
        { seq: 2, items: second },
        { seq: 3, items },
      ],
    };
  return { observed: tid === 't1' ? [{ seq: 2, items: second }] : [], observedCount: 3 };
}

/** A history consistent with the journal above, as the chaos runner would write it. */
export function buildHistory(built: Built, opts: HistoryOptions = {}): HistoryLine[] {
  const lines: HistoryLine[] = [];
  const at = (wall: number) => ({ time: wall - T0 + 1000, wall });
  lines.push({
    ...at(T0 - 1000),
    type: 'meta',
    seed: 42,
    faults: ['partition', 'crash'],
    terminals: 6,
    clients: 5,
    durationMs: 50_000,
  });
  const ordered = [...built.orders.values()].sort((a, b) => a.acceptedAt - b.acceptedAt);
  const events: HistoryLine[] = [];
  for (const o of ordered) {
    const process = o.cid;
    events.push({
      ...at(o.acceptedAt - 5),
      type: 'invoke',
      process,
      f: 'place',
      orderId: o.orderId,
      lines: [{ sku: 'A', qty: 1 }],
    });
    events.push({ ...at(o.acceptedAt + 1), type: 'observe', process, orderId: o.orderId, state: 'accepted' });
    if (o.endedAt !== undefined) {
      const state = o.state as 'fulfilled' | 'rejected' | 'failed' | 'cancelled';
      events.push({ ...at(o.endedAt + 1), type: 'observe', process, orderId: o.orderId, state });
      events.push({
        ...at(o.endedAt + 5),
        type: state === 'fulfilled' || state === 'cancelled' ? 'ok' : 'fail',
        process,
        f: 'place',
        orderId: o.orderId,
        state,
      });
    } else {
      events.push({
        ...at(T0 + 50_000),
        type: 'info',
        process,
        f: 'place',
        orderId: o.orderId,
        error: 'no final state when the run ended',
      });
    }
  }
  // The nemesis: a partition of t6 while the f-orders ran, a crash of t3 healed, a gateway crash ended by the final heal.
  events.push({
    ...at(T0 + 30_000),
    type: 'start',
    process: 'nemesis',
    target: 'links/t6',
    kind: 'partition',
    params: { durationMs: 6000 },
  });
  events.push({
    ...at(T0 + 36_000),
    type: 'stop',
    process: 'nemesis',
    target: 'links/t6',
    kind: 'partition',
  });
  events.push({
    ...at(T0 + 40_000),
    type: 'start',
    process: 'nemesis',
    target: 'terminals/t3',
    kind: 'crash',
  });
  events.push({ ...at(T0 + 42_000), type: 'stop', process: 'nemesis', target: 'terminals/t3', kind: 'heal' });
  events.push({ ...at(T0 + 45_000), type: 'start', process: 'nemesis', target: 'gateway', kind: 'crash' });
  // The runner ends with a heal of everything.
  events.push({ ...at(T0 + 48_000), type: 'stop', process: 'nemesis', target: 'all', kind: 'heal' });
  events.sort((a, b) => a.wall - b.wall);
  lines.push(...events);

  const terminals: FinalRead['terminals'] = {};
  for (const [tid, initial] of Object.entries(INITIAL)) {
    const items = Object.fromEntries(
      Object.entries(initial).map(([sku, n]) => [sku, { onHand: n, reserved: 0, committed: 0 }]),
    );
    terminals[tid] = {
      inventory: { seq: 3, items },
      initial,
      restocked: {},
      counted: {},
      picked: {},
      txs: {},
      ...observedOf(tid, initial, items, opts.observed),
    };
  }
  lines.push({
    ...at(T0 + 50_000),
    type: 'final',
    terminals,
    orders: Object.fromEntries(
      ordered.map((o) => [`${o.cid}/${o.orderId}`, { cid: o.cid, state: o.state as 'fulfilled' }]),
    ),
    txOrders: {},
    stats: { fulfilled: 25 },
  });
  return lines;
}

export function writeHistory(file: string, lines: readonly HistoryLine[], tail = '\n'): void {
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + tail);
}
