import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JournalRecord } from '../../gateway/journal/journal.ts';
import { SqliteJournal } from '../../gateway/journal/sqliteJournal.ts';

let dir: string;
let file: string;
const journals: SqliteJournal[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-journal-'));
  file = join(dir, 'sub', 'journal.db');
});

afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openJournal() {
  const j = new SqliteJournal(file);
  journals.push(j);
  const state = await j.open();
  return { j, state };
}

const alloc = (terminal: string, sku: string, qty: number) => ({ terminal, sku, qty });

/** A history with orders in every state, covering every record type. */
const RECORDS: JournalRecord[] = [
  // o1: accepted, tx prepared, no decision yet (open order, open tx)
  { type: 'accepted', at: 1, cid: 'c1', orderId: 'o1', lines: [{ sku: 'A', qty: 2 }] },
  { type: 'tx', at: 2, cid: 'c1', orderId: 'o1', tx: 'tx1', allocation: [alloc('t1', 'A', 2)] },
  // o2: confirmed, commit decided but not acknowledged; one of two picks reported
  {
    type: 'accepted',
    at: 3,
    cid: 'c1',
    orderId: 'o2',
    lines: [
      { sku: 'A', qty: 1 },
      { sku: 'B', qty: 1 },
    ],
  },
  {
    type: 'tx',
    at: 4,
    cid: 'c1',
    orderId: 'o2',
    tx: 'tx2',
    allocation: [alloc('t1', 'A', 1), alloc('t2', 'B', 1)],
  },
  { type: 'decision', at: 5, cid: 'c1', orderId: 'o2', tx: 'tx2', decision: 'commit' },
  {
    type: 'state',
    at: 6,
    cid: 'c1',
    orderId: 'o2',
    state: 'confirmed',
    allocation: [alloc('t1', 'A', 1), alloc('t2', 'B', 1)],
    tx: 'tx2',
  },
  { type: 'picked', at: 7, cid: 'c1', orderId: 'o2', tx: 'tx2', terminal: 't1', sku: 'A', qty: 1 },
  // o3: fulfilled, tx done (final)
  { type: 'accepted', at: 8, cid: 'c2', orderId: 'o3', lines: [{ sku: 'B', qty: 3 }] },
  { type: 'tx', at: 9, cid: 'c2', orderId: 'o3', tx: 'tx3', allocation: [alloc('t2', 'B', 3)] },
  { type: 'decision', at: 10, cid: 'c2', orderId: 'o3', tx: 'tx3', decision: 'commit' },
  {
    type: 'state',
    at: 11,
    cid: 'c2',
    orderId: 'o3',
    state: 'confirmed',
    allocation: [alloc('t2', 'B', 3)],
    tx: 'tx3',
  },
  { type: 'tx_done', at: 12, tx: 'tx3' },
  { type: 'picked', at: 13, cid: 'c2', orderId: 'o3', tx: 'tx3', terminal: 't2', sku: 'B', qty: 3 },
  { type: 'state', at: 14, cid: 'c2', orderId: 'o3', state: 'fulfilled' },
  // o4: rejected (final, no tx)
  { type: 'accepted', at: 15, cid: 'c2', orderId: 'o4', lines: [{ sku: 'Z', qty: 1 }] },
  { type: 'state', at: 16, cid: 'c2', orderId: 'o4', state: 'rejected', reason: 'out_of_stock' },
  // o5: aborted tx, then failed (final); tx done
  { type: 'accepted', at: 17, cid: 'c3', orderId: 'o5', lines: [{ sku: 'A', qty: 1 }] },
  { type: 'tx', at: 18, cid: 'c3', orderId: 'o5', tx: 'tx5', allocation: [alloc('t1', 'A', 1)] },
  { type: 'decision', at: 19, cid: 'c3', orderId: 'o5', tx: 'tx5', decision: 'abort' },
  { type: 'state', at: 20, cid: 'c3', orderId: 'o5', state: 'failed', reason: 'terminals_unavailable' },
  { type: 'tx_done', at: 21, tx: 'tx5' },
  // o6: confirmed, then cancelled: the release is decided after the commit's tx_done, then done
  { type: 'accepted', at: 22, cid: 'c3', orderId: 'o6', lines: [{ sku: 'A', qty: 1 }] },
  { type: 'tx', at: 23, cid: 'c3', orderId: 'o6', tx: 'tx6', allocation: [alloc('t1', 'A', 1)] },
  { type: 'decision', at: 24, cid: 'c3', orderId: 'o6', tx: 'tx6', decision: 'commit' },
  {
    type: 'state',
    at: 25,
    cid: 'c3',
    orderId: 'o6',
    state: 'confirmed',
    allocation: [alloc('t1', 'A', 1)],
    tx: 'tx6',
  },
  { type: 'tx_done', at: 26, tx: 'tx6' },
  { type: 'decision', at: 27, cid: 'c3', orderId: 'o6', tx: 'tx6', decision: 'release' },
  { type: 'state', at: 28, cid: 'c3', orderId: 'o6', state: 'cancelled', reason: 'cancelled_by_client' },
  { type: 'tx_done', at: 29, tx: 'tx6' },
  // physical events
  { type: 'terminal_event', at: 30, terminal: 't1', kind: 'restock', sku: 'A', qty: 10, seq: 4 },
  { type: 'terminal_event', at: 31, terminal: 't2', kind: 'count', sku: 'B', qty: 7, seq: 9 },
];

describe('SqliteJournal', () => {
  it('a new journal is empty', async () => {
    const { j, state } = await openJournal();
    expect(state).toEqual({ openOrders: [], openTxs: [], picks: [], records: 0 });
    expect([...j.history()]).toEqual([]);
    expect(j.catalog().size).toBe(0);
    expect(j.findOrder('c1', 'o1')).toBeUndefined();
  });

  it('recovers open orders, open txs and picks of open orders after reopen', async () => {
    const first = await openJournal();
    for (const r of RECORDS) await first.j.append(r);
    await first.j.close();

    const { j, state } = await openJournal();
    expect(state.records).toBe(RECORDS.length);

    const orders = [...state.openOrders].sort((a, b) => a.orderId.localeCompare(b.orderId));
    expect(orders).toEqual([
      {
        cid: 'c1',
        orderId: 'o1',
        state: 'accepted',
        lines: [{ sku: 'A', qty: 2 }],
        acceptedAt: 1,
        updatedAt: 1,
      },
      {
        cid: 'c1',
        orderId: 'o2',
        state: 'confirmed',
        lines: [
          { sku: 'A', qty: 1 },
          { sku: 'B', qty: 1 },
        ],
        allocation: [alloc('t1', 'A', 1), alloc('t2', 'B', 1)],
        tx: 'tx2',
        acceptedAt: 3,
        updatedAt: 6,
      },
    ]);

    const txs = [...state.openTxs].sort((a, b) => a.tx.localeCompare(b.tx));
    expect(txs).toEqual([
      { tx: 'tx1', cid: 'c1', orderId: 'o1', allocation: [alloc('t1', 'A', 2)], done: false, at: 2 },
      {
        tx: 'tx2',
        cid: 'c1',
        orderId: 'o2',
        allocation: [alloc('t1', 'A', 1), alloc('t2', 'B', 1)],
        decision: 'commit',
        done: false,
        at: 5,
      },
    ]);

    // only the pick of the open order o2, not that of the fulfilled o3
    expect(state.picks).toEqual([{ tx: 'tx2', cid: 'c1', orderId: 'o2', terminal: 't1', sku: 'A', qty: 1 }]);

    // final orders are still found
    expect(j.findOrder('c2', 'o3')).toMatchObject({
      state: 'fulfilled',
      tx: 'tx3',
      allocation: [alloc('t2', 'B', 3)],
    });
    expect(j.findOrder('c2', 'o4')).toEqual({
      cid: 'c2',
      orderId: 'o4',
      state: 'rejected',
      reason: 'out_of_stock',
      lines: [{ sku: 'Z', qty: 1 }],
      acceptedAt: 15,
      updatedAt: 16,
    });
    expect(j.findOrder('c3', 'o5')).toMatchObject({ state: 'failed', reason: 'terminals_unavailable' });
    // a later state without allocation keeps the earlier allocation and tx
    expect(j.findOrder('c3', 'o6')).toMatchObject({
      state: 'cancelled',
      reason: 'cancelled_by_client',
      tx: 'tx6',
      allocation: [alloc('t1', 'A', 1)],
      updatedAt: 28,
    });
    // the same orderId of another client is another order
    expect(j.findOrder('c2', 'o1')).toBeUndefined();
  });

  it('a release decided after the commit was acknowledged reopens the tx until its own tx_done', async () => {
    // Cancel after confirm: commit acknowledged (tx_done), then the release is decided and the
    // gateway stops before the terminals acknowledge it. Recovery must re-drive the release.
    const upToRelease = RECORDS.slice(
      0,
      RECORDS.findIndex((r) => r.type === 'decision' && r.decision === 'release') + 1,
    );
    const first = await openJournal();
    for (const r of upToRelease) await first.j.append(r);
    await first.j.close();

    const second = await openJournal();
    expect(second.state.openTxs.find((t) => t.tx === 'tx6')).toEqual({
      tx: 'tx6',
      cid: 'c3',
      orderId: 'o6',
      allocation: [alloc('t1', 'A', 1)],
      decision: 'release',
      done: false,
      at: 27,
    });
    expect(second.state.openOrders.find((o) => o.orderId === 'o6')).toMatchObject({
      state: 'confirmed',
      tx: 'tx6',
    });

    await second.j.append({
      type: 'state',
      at: 28,
      cid: 'c3',
      orderId: 'o6',
      state: 'cancelled',
      reason: 'cancelled_by_client',
    });
    await second.j.append({ type: 'tx_done', at: 29, tx: 'tx6' });
    await second.j.close();
    const third = await openJournal();
    expect(third.state.openTxs.find((t) => t.tx === 'tx6')).toBeUndefined();
    expect(third.state.openOrders.find((o) => o.orderId === 'o6')).toBeUndefined();
  });

  it('history yields every record in append order with increasing seq', async () => {
    const { j } = await openJournal();
    for (const r of RECORDS) await j.append(r);
    const history = [...j.history()];
    expect(history).toHaveLength(RECORDS.length);
    history.forEach((h, i) => {
      const { journalSeq, ...record } = h;
      expect(record).toEqual(RECORDS[i]);
      expect(journalSeq).toBe(i + 1);
    });
    // and again after a reopen
    await j.close();
    const again = await openJournal();
    expect([...again.j.history()].map((h) => h.journalSeq)).toEqual(RECORDS.map((_, i) => i + 1));
  });

  // The journal's own position is `journalSeq`, so a terminal_event's `seq` (the terminal's) survives.
  it('history keeps the terminal seq of a terminal_event', async () => {
    const { j } = await openJournal();
    await j.append({ type: 'accepted', at: 1, cid: 'c1', orderId: 'o1', lines: [{ sku: 'A', qty: 1 }] });
    await j.append({
      type: 'terminal_event',
      at: 2,
      terminal: 't1',
      kind: 'restock',
      sku: 'A',
      qty: 10,
      seq: 42,
    });
    const event = [...j.history()].find((r) => r.type === 'terminal_event');
    expect(event).toMatchObject({ type: 'terminal_event', seq: 42 });
  });

  it('an accepted record for an existing order does not reset it', async () => {
    const { j } = await openJournal();
    await j.append({ type: 'accepted', at: 1, cid: 'c1', orderId: 'o1', lines: [{ sku: 'A', qty: 1 }] });
    await j.append({
      type: 'state',
      at: 2,
      cid: 'c1',
      orderId: 'o1',
      state: 'rejected',
      reason: 'out_of_stock',
    });
    await j.append({ type: 'accepted', at: 3, cid: 'c1', orderId: 'o1', lines: [{ sku: 'B', qty: 9 }] });
    expect(j.findOrder('c1', 'o1')).toMatchObject({
      state: 'rejected',
      lines: [{ sku: 'A', qty: 1 }],
      acceptedAt: 1,
    });
  });

  it('catalog and rememberSkus persist across reopen, without duplicates', async () => {
    const first = await openJournal();
    first.j.rememberSkus('t1', ['A', 'B']);
    first.j.rememberSkus('t1', ['B', 'C']);
    first.j.rememberSkus('t2', ['A']);
    first.j.rememberSkus('t3', []);
    expect(first.j.catalog()).toEqual(
      new Map([
        ['t1', new Set(['A', 'B', 'C'])],
        ['t2', new Set(['A'])],
      ]),
    );
    await first.j.close();

    const { j } = await openJournal();
    expect(j.catalog()).toEqual(
      new Map([
        ['t1', new Set(['A', 'B', 'C'])],
        ['t2', new Set(['A'])],
      ]),
    );
    j.rememberSkus('t2', ['A', 'D']);
    await j.close();
    const third = await openJournal();
    expect(third.j.catalog().get('t2')).toEqual(new Set(['A', 'D']));
  });

  it('many concurrent appends resolve in one group and are all present', async () => {
    const { j } = await openJournal();
    const n = 500;
    const records: JournalRecord[] = Array.from({ length: n }, (_, i) => ({
      type: 'accepted',
      at: i,
      cid: `c${i % 5}`,
      orderId: `o${i}`,
      lines: [{ sku: 'A', qty: 1 + (i % 3) }],
    }));
    let resolved = 0;
    await Promise.all(records.map((r) => j.append(r).then(() => resolved++)));
    expect(resolved).toBe(n);
    const history = [...j.history()];
    expect(history.map((h) => (h.type === 'accepted' ? h.orderId : ''))).toEqual(
      records.map((_, i) => `o${i}`),
    );
    for (let i = 0; i < n; i += 97)
      expect(j.findOrder(`c${i % 5}`, `o${i}`)).toMatchObject({ state: 'accepted' });
    await j.close();
    const again = await openJournal();
    expect(again.state.records).toBe(n);
    expect(again.state.openOrders).toHaveLength(n);
  });

  it('appends pending at close are written, appends after close are refused', async () => {
    const { j } = await openJournal();
    const pending = j.append({
      type: 'accepted',
      at: 1,
      cid: 'c1',
      orderId: 'o1',
      lines: [{ sku: 'A', qty: 1 }],
    });
    await j.close();
    await expect(pending).resolves.toBeUndefined();
    await expect(j.append({ type: 'tx_done', at: 2, tx: 'x' })).rejects.toThrow(/closed/);
    expect(j.findOrder('c1', 'o1')).toBeUndefined();
    expect([...j.history()]).toEqual([]);
    const again = await openJournal();
    expect(again.state.records).toBe(1);
    expect(again.j.findOrder('c1', 'o1')).toMatchObject({ state: 'accepted' });
  });

  it('close twice is harmless', async () => {
    const { j } = await openJournal();
    await j.close();
    await expect(j.close()).resolves.toBeUndefined();
  });
});
