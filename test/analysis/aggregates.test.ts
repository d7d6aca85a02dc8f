import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyze, CHECKER_SOURCE, CLIENT_PHASE } from '../../analysis/analyze.ts';
import { INVARIANTS } from '../../analysis/checker/verdict.ts';
import type { Figures } from '../../analysis/figures.ts';
import type { HistoryLine } from '../../analysis/history.ts';
import { HistoryReducer } from '../../analysis/historyReducer.ts';
import type { Rec } from '../../analysis/journalRecord.ts';
import { renderReport } from '../../analysis/report.ts';
import { LogHistogram, robustZ, TimeBins, TopK } from '../../analysis/stats.ts';
import type { JournalRecord } from '../../gateway/journal/journal.ts';
import { buildHistory, buildRecords, T0, writeHistory, writeJournal } from './fixtures.ts';

// The analysis reads the records the gateway writes: one type (protocol/journal.ts) for both, and
// this file stops compiling if either side drifts from it.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<Rec, JournalRecord> = true;

let dir: string;
let journal: string;
let plain: Figures;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-analysis-'));
  journal = join(dir, 'journal.sqlite');
  await writeJournal(journal, buildRecords().records);
  plain = await analyze({ journal, slowest: 3 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const final = (f: Figures, state: string, reason: string | null) =>
  f.orders.byFinal.find((r) => r.state === state && r.reason === reason)?.count;
const phase = (f: Figures, name: string) => f.latency.find((l) => l.phase === name)!.summary;
const terminal = (f: Figures, tid: string) => f.terminals.rows.find((r) => r.terminal === tid)!;
/** The last stock point of a terminal. */
const lastStock = (f: Figures, tid: string) => f.stock.points.filter((p) => p.terminal === tid).at(-1);

describe('aggregates over a journal with known answers', () => {
  it('reads every record', () => {
    expect(sameShape).toBe(true);
    expect(plain.journal.records).toBe(buildRecords().records.length);
    expect(plain.journal.skipped).toBe(0);
    expect(plain.journal.firstAt).toBe(T0);
    expect(plain.anomalies).toEqual([]);
  });

  it('counts orders by final state and reason, and the ones never final', () => {
    expect(plain.orders.accepted).toBe(32);
    expect(final(plain, 'fulfilled', null)).toBe(25);
    expect(final(plain, 'rejected', 'out_of_stock')).toBe(2);
    expect(final(plain, 'failed', 'terminals_unavailable')).toBe(1);
    expect(final(plain, 'cancelled', 'cancelled_by_client')).toBe(2);
    expect(plain.orders.byFinal.reduce((s, r) => s + r.count, 0)).toBe(30);
    expect(plain.orders.open.sort((a, b) => a.state.localeCompare(b.state))).toEqual([
      { state: 'accepted', count: 1 },
      { state: 'confirmed', count: 1 },
    ]);
  });

  it('gives latency percentiles per phase', () => {
    // accepted->confirmed: n0..n19 10..29 ms, k1 10, u0 20, f0..f4 3012: 27 values.
    const conf = phase(plain, 'accepted→confirmed');
    expect(conf).toMatchObject({ count: 27, min: 10, p50: 21, p99: 3012, max: 3012 });
    // confirmed->fulfilled: n 1972..1991, f 1989..2029.
    const ful = phase(plain, 'confirmed→fulfilled');
    expect(ful).toMatchObject({ count: 25, min: 1972, max: 2029 });
    // accepted->final: 20 x 2001, f 5001..5041, r 3 x2, x0 5000, k0 50, k1 600.
    const fin = phase(plain, 'accepted→final');
    expect(fin).toMatchObject({ count: 30, min: 3, p50: 2001, max: 5041 });
    expect(fin.bins.reduce((s, b) => s + b.count, 0)).toBe(30);
    const twoThousand = fin.bins.find((b) => b.lo <= 2001 && 2001 < b.hi)!;
    expect(twoThousand.count).toBe(20);
  });

  it('gives success, abort and timeout rates per terminal, and finds the one that stands out', () => {
    expect(terminal(plain, 't1')).toMatchObject({
      txs: 9,
      committed: 9,
      aborted: 0,
      picks: 9,
      successRate: 1,
    });
    expect(terminal(plain, 't2')).toMatchObject({ txs: 5, committed: 5, released: 1 });
    expect(terminal(plain, 't4')).toMatchObject({ txs: 5, committed: 4, undecided: 1 });
    expect(terminal(plain, 't6')).toMatchObject({
      txs: 5,
      committed: 0,
      aborted: 5,
      timeouts: 5,
      abortRate: 1,
      timeoutRate: 1,
    });
    // Scored (>= 5 txs): t1..t4 at 0, t6 at 1: MAD 0, mean absolute deviation 0.2 -> z = 1 / (1.2533 * 0.2).
    expect(plain.terminals.outliers.map((o) => `${o.terminal} ${o.metric}`).sort()).toEqual([
      't6 abortRate',
      't6 timeoutRate',
    ]);
    expect(plain.terminals.outliers[0]!.z).toBeCloseTo(3.99, 2);
    expect(terminal(plain, 't5').abortZ).toBe(0); // 4 txs: not scored
  });

  it('a higher timeout threshold makes the aborts refusals', async () => {
    const f = await analyze({ journal, timeoutMs: 5000 });
    expect(terminal(f, 't6')).toMatchObject({ aborted: 5, timeouts: 0 });
  });

  it('gives sales per SKU', () => {
    const sku = (s: string) => plain.sales.find((x) => x.sku === s);
    expect(sku('B')).toEqual({ sku: 'B', units: 20, orders: 10, cancelledUnits: 0 });
    expect(sku('A')).toEqual({ sku: 'A', units: 10, orders: 10, cancelledUnits: 0 });
    expect(sku('D')).toEqual({ sku: 'D', units: 5, orders: 5, cancelledUnits: 0 });
    expect(sku('C')).toEqual({ sku: 'C', units: 0, orders: 0, cancelledUnits: 3 });
    expect(plain.sales[0]!.sku).toBe('B');
  });

  it('bins throughput over time, every order in exactly one bin', () => {
    const sum = (k: 'accepted' | 'fulfilled' | 'aborts' | 'confirmed') =>
      plain.throughput.bins.reduce((s, b) => s + b[k], 0);
    expect(sum('accepted')).toBe(32);
    expect(sum('fulfilled')).toBe(25);
    expect(sum('confirmed')).toBe(27);
    expect(sum('aborts')).toBe(5);
    expect(plain.throughput.binMs).toBe(1000);
    expect(plain.throughput.bins[0]!.t).toBe(T0);
    // Contiguous bins.
    const ts = plain.throughput.bins.map((b) => b.t);
    expect(ts.every((t, i) => i === 0 || t - ts[i - 1]! === 1000)).toBe(true);
  });

  it('tracks stock from the journal, relative when no initial stock is known', () => {
    expect(plain.stock.source).toBe('journal-relative');
    // t1: +10 restock, 11 units committed and picked.
    expect(lastStock(plain, 't1')).toMatchObject({ onHand: -1, available: -1 });
    // t3: 6 picked, 4 committed (u0) never picked.
    expect(lastStock(plain, 't3')).toMatchObject({ onHand: -6, available: -10 });
    // t2: the count cannot be applied without the initial stock; k1's commit was released.
    expect(lastStock(plain, 't2')).toMatchObject({ onHand: -6, available: -6 });
    expect(plain.stock.notes.join(' ')).toMatch(/1 count events not applied/);
  });

  it('traces the slowest orders with every journal record of each, in order', () => {
    expect(plain.slowest.map((o) => o.orderId)).toEqual(['f4', 'f3', 'f2']);
    const f4 = plain.slowest[0]!;
    expect(f4).toMatchObject({ cid: 'c2', state: 'fulfilled', latencyMs: 5041 });
    expect(f4.trace.map((t) => t.rec.type)).toEqual([
      'accepted',
      'tx',
      'decision',
      'tx_done',
      'tx',
      'decision',
      'state',
      'tx_done',
      'picked',
      'state',
    ]);
    const seqs = f4.trace.map((t) => t.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(plain.unfinished.count).toBe(2);
    expect(plain.unfinished.oldest.map((o) => o.orderId)).toEqual(['u0', 'u1']);
    expect(plain.unfinished.oldest[1]!.trace.map((t) => t.rec.type)).toEqual(['accepted', 'tx']);
  });

  it('with a history: faults, client latency, and stock from the initial stock', async () => {
    const history = join(dir, 'history.jsonl');
    writeHistory(history, buildHistory(buildRecords()));
    const f = await analyze({ journal, history });
    expect(f.history).toMatchObject({ lines: expect.any(Number), truncatedLine: null, meta: { seed: 42 } });
    expect(f.history!.clientOps).toEqual({ invoke: 32, ok: 27, fail: 3, info: 2, observe: 62 });
    expect(f.faults.map((x) => [x.target, x.kind, x.stop - x.start, x.open])).toEqual([
      ['links/t6', 'partition', 6000, false],
      ['terminals/t3', 'crash', 2000, false],
      ['gateway', 'crash', 3000, false],
    ]);
    expect(f.anomalies).toEqual([]);
    // invoke 5 ms before acceptance, ok/fail 5 ms after the final state.
    expect(phase(f, CLIENT_PHASE)).toMatchObject({ count: 30, min: 13, max: 5051 });
    expect(f.stock.source).toBe('journal-with-initial');
    expect(lastStock(f, 't1')).toMatchObject({ onHand: 49, available: 49 });
    expect(lastStock(f, 't3')).toMatchObject({ onHand: 44, available: 40 });
    // The count set B to 7 at t2 (from 20), then 4 units of B and 2 of A were picked.
    expect(lastStock(f, 't2')).toMatchObject({ onHand: 26, available: 26 });
    expect(f.stock.points.filter((p) => p.terminal === 't6')[0]).toMatchObject({ x: T0, onHand: 10 });
  });

  it('with observed inventories in the history, stock comes from them (oversell shows)', async () => {
    const history = join(dir, 'history-observed.jsonl');
    writeHistory(history, buildHistory(buildRecords(), { observed: 'all' }));
    const f = await analyze({ journal, history });
    expect(f.stock.source).toBe('history-observed');
    expect(f.stock.x).toBe('seq');
    const t1 = f.stock.points.filter((p) => p.terminal === 't1');
    expect(t1.map((p) => [p.x, p.available, p.minAvailable])).toEqual([
      [1, 50, 10],
      [2, 27, -1],
      [3, 50, 10],
    ]);
  });

  it('with inventories kept as the chaos runner keeps them (only the negative ones): stock from the journal, the oversold listed', async () => {
    const history = join(dir, 'history-negative.jsonl');
    writeHistory(history, buildHistory(buildRecords(), { observed: 'negative' }));
    const f = await analyze({ journal, history });
    expect(f.stock.source).toBe('journal-with-initial');
    expect(f.stock.observed.map((o) => [o.terminal, o.published, o.negative.length])).toEqual([
      ['t1', 3, 1],
      ['t2', 3, 0],
      ['t3', 3, 0],
      ['t4', 3, 0],
      ['t5', 3, 0],
      ['t6', 3, 0],
    ]);
    expect(f.stock.observed[0]!.negative[0]).toEqual({
      seq: 2,
      sku: 'A',
      onHand: 20,
      reserved: 1,
      committed: 20,
      available: -1,
    });
  });

  it('runs the invariant checker when given a history, not without one or when told not to', async () => {
    const history = join(dir, 'history-check.jsonl');
    writeHistory(history, buildHistory(buildRecords(), { observed: 'negative' }));
    const f = await analyze({ journal, history });
    expect(f.checkerError).toBeNull();
    expect(f.inputs.verdict).toBe(CHECKER_SOURCE);
    expect(f.verdict?.results.map((r) => r.invariant)).toEqual([...INVARIANTS]);
    // The history shows t1 publishing A at available -1: the checker must say so.
    const oversell = f.verdict!.results.find((r) => r.invariant === 'no-oversell')!;
    expect(oversell.ok).toBe(false);
    expect(oversell.violations[0]).toMatchObject({ terminal: 't1', sku: 'A' });
    expect(plain.verdict).toBeNull();
    expect((await analyze({ journal, history, check: false })).verdict).toBeNull();
  });

  it('an empty journal gives a report that says there is nothing to draw', async () => {
    const empty = join(dir, 'empty.sqlite');
    await writeJournal(empty, []);
    const f = await analyze({ journal: empty });
    expect(f.orders.accepted).toBe(0);
    expect(f.throughput.bins).toEqual([]);
    const html = renderReport(f);
    expect(html).toContain('data-empty-figure="throughput"');
    expect(html).not.toContain('data-figure=');
  });

  it('skips unusable records with a count, and notes anomalies', async () => {
    const bad = join(dir, 'bad.sqlite');
    await writeJournal(bad, buildRecords().records);
    const db = new Database(bad);
    const ins = db.prepare('INSERT INTO records (at, type, body) VALUES (?, ?, ?)');
    ins.run(T0, 'state', '{"type":"state","at":1767268800000,"cid":"c1"'); // cut short
    ins.run(T0, 'x', '{"type":"mystery","at":1}');
    ins.run(
      T0,
      'state',
      JSON.stringify({ type: 'state', at: T0 + 60_000, cid: 'c9', orderId: 'zz', state: 'fulfilled' }),
    );
    ins.run(
      T0,
      'decision',
      JSON.stringify({
        type: 'decision',
        at: T0 + 60_000,
        cid: 'c9',
        orderId: 'zz',
        tx: 'nope',
        decision: 'commit',
      }),
    );
    ins.run(
      T0,
      'accepted',
      JSON.stringify({ type: 'accepted', at: T0 + 60_000, cid: 'c5', orderId: 'u1', lines: [] }),
    );
    db.close();
    const f = await analyze({ journal: bad });
    expect(f.journal.skipped).toBe(2);
    expect(f.journal.skippedByReason).toEqual({ 'body is not JSON': 1, 'unknown record type': 1 });
    expect(f.anomalies.map((a) => [a.kind, a.count]).sort()).toEqual([
      ['decision for an unknown transaction', 1],
      ['duplicate accepted record', 1],
      ['state record for an order that is not open', 1],
    ]);
    expect(f.orders.accepted).toBe(32);
  });
});

describe('the fault timeline from nemesis operations', () => {
  const op = (type: 'start' | 'stop', wall: number, target: string, kind: string): HistoryLine => ({
    type,
    time: wall,
    wall,
    process: 'nemesis',
    target,
    kind,
  });

  it('pairs starts and stops by target and kind; heal ends all on the target; unstopped faults run to the end', () => {
    const h = new HistoryReducer();
    for (const line of [
      op('start', 100, 'links/t1', 'drop'),
      op('start', 200, 'links/t1', 'delay'),
      op('stop', 300, 'links/t1', 'delay'),
      op('start', 400, 'terminals/t2', 'freeze'),
      op('stop', 500, 'links/t1', 'heal'),
      op('stop', 600, 'terminals/t9', 'crash'),
      op('start', 700, 'gateway', 'crash'),
      {
        type: 'observe',
        time: 900,
        wall: 900,
        process: 'c1',
        orderId: 'o1',
        state: 'accepted',
      } as HistoryLine,
    ])
      h.visit(line);
    h.finish();
    expect(h.faults.map((f) => [f.target, f.kind, f.start, f.stop, f.open])).toEqual([
      ['links/t1', 'drop', 100, 500, false],
      ['links/t1', 'delay', 200, 300, false],
      ['terminals/t2', 'freeze', 400, 900, true],
      ['gateway', 'crash', 700, 900, true],
    ]);
    expect(h.unmatchedStops).toBe(1);
  });
});

describe('streaming summaries', () => {
  it('TimeBins coarsens to stay under maxBins, merging whole bins in time order', () => {
    const bins = new TimeBins<{ n: number; last: number }>(
      () => ({ n: 0, last: 0 }),
      (into, later) => {
        into.n += later.n;
        into.last = later.last;
      },
      10,
    );
    for (let t = 0; t < 60_000; t += 100) {
      const b = bins.at(t);
      b.n++;
      b.last = t;
    }
    expect(bins.width).toBe(10_000);
    const entries = [...bins.entries()];
    expect(entries.length).toBeLessThanOrEqual(10);
    expect(entries.map(([t, b]) => [t, b!.n, b!.last])).toEqual([
      [0, 100, 9900],
      [10_000, 100, 19_900],
      [20_000, 100, 29_900],
      [30_000, 100, 39_900],
      [40_000, 100, 49_900],
      [50_000, 100, 59_900],
    ]);
  });

  it('LogHistogram quantiles fall in the right bin', () => {
    const h = new LogHistogram();
    for (let v = 1; v <= 1000; v++) h.add(v);
    expect(h.quantile(0.5)).toBeGreaterThan(500 / 1.13);
    expect(h.quantile(0.5)).toBeLessThan(500 * 1.13);
    expect(h.bins().reduce((s, b) => s + b.count, 0)).toBe(1000);
    h.add(0);
    expect(h.bins()[0]).toEqual({ lo: 0, hi: 1, count: 1 });
  });

  it('robustZ flags the value far from the median, and is 0 when all agree', () => {
    const { scores } = robustZ([0.02, 0.03, 0.025, 0.028, 0.4]);
    expect(scores[4]!).toBeGreaterThan(3.5);
    expect(scores.slice(0, 4).every((z) => Math.abs(z) < 3.5)).toBe(true);
    expect(robustZ([0.1, 0.1, 0.1]).scores).toEqual([0, 0, 0]);
  });

  it('TopK keeps the k largest', () => {
    const top = new TopK<string>(2);
    for (const [s, x] of [
      [3, 'c'],
      [1, 'a'],
      [5, 'e'],
      [4, 'd'],
    ] as const)
      top.offer(s, x);
    expect(top.list()).toEqual(['e', 'd']);
  });
});
