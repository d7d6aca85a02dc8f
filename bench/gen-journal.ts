/**
 * Writes a synthetic journal of N orders (default one million) with the real SqliteJournal schema,
 * fast: the schema comes from SqliteJournal.open(), the records go in by direct SQL inserts in big
 * transactions. Only the `records` table (what `stockgate analyze` reads) is filled; the gateway's
 * derived tables (orders, txs, picks) stay empty.
 *
 * What it contains, seeded: Poisson arrivals at --rate orders/s; 1-3 lines over --skus SKUs, each SKU
 * stocked at two of --terminals terminals; per transaction a small chance of a refusal, one terminal
 * (the last) much flakier with timeouts; up to 3 attempts then failed or rejected; some orders
 * rejected at once; some cancelled before or after confirm; the rest picked and fulfilled; restocks.
 * It prints the expected counts (orders by final state) as JSON on stdout.
 *
 *   npx tsx bench/gen-journal.ts --out /tmp/j1m [--orders 1000000] [--seed 1]
 *   /usr/bin/time -v npx tsx bin/stockgate.ts analyze --data /tmp/j1m
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { JournalRecord } from '../gateway/journal/journal.ts';
import { SqliteJournal } from '../gateway/journal/sqliteJournal.ts';
import { Rng } from '../lib/random.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    orders: { type: 'string', default: '1000000' },
    terminals: { type: 'string', default: '16' },
    skus: { type: 'string', default: '400' },
    rate: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
  },
});
if (!values.out) {
  process.stderr.write(
    'usage: gen-journal --out <dir> [--orders N] [--terminals N] [--skus N] [--rate N] [--seed N]\n',
  );
  process.exit(2);
}
const N = Number(values.orders);
const T = Number(values.terminals);
const S = Number(values.skus);
const RATE = Number(values.rate);
const rng = new Rng(Number(values.seed));

const terminals = Array.from({ length: T }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
const skus = Array.from({ length: S }, (_, i) => `sku-${String(i + 1).padStart(4, '0')}`);
/** Each SKU at two terminals. */
const homes = skus.map((_, i) => [terminals[i % T]!, terminals[(i * 7 + 3) % T]!]);
const FLAKY = terminals[T - 1]!;

function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}
const logNormal = (medianMs: number, sigma: number) => Math.round(medianMs * Math.exp(sigma * gauss()));

// ---- a time-ordered queue of records (binary heap on at, then insertion order)
interface Item {
  at: number;
  n: number;
  rec: JournalRecord;
}
const heap: Item[] = [];
let counter = 0;
function push(rec: JournalRecord): void {
  const item = { at: rec.at, n: counter++, rec };
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (less(heap[p]!, item)) break;
    heap[i] = heap[p]!;
    i = p;
  }
  heap[i] = item;
}
function less(a: Item, b: Item): boolean {
  return a.at < b.at || (a.at === b.at && a.n < b.n);
}
function pop(): Item {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && less(heap[r]!, heap[l]!) ? r : l;
      if (less(last, heap[c]!)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
  return top;
}

// ---- the database
const dir = values.out;
mkdirSync(dir, { recursive: true });
const file = join(dir, 'journal.sqlite');
for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
const schema = new SqliteJournal(file);
await schema.open();
await schema.close();
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
const insert = db.prepare('INSERT INTO records (at, type, body) VALUES (?, ?, ?)');
let batch: JournalRecord[] = [];
let written = 0;
const flushBatch = db.transaction((recs: JournalRecord[]) => {
  for (const r of recs) insert.run(r.at, r.type, JSON.stringify(r));
});
function write(rec: JournalRecord): void {
  batch.push(rec);
  if (batch.length >= 100_000) {
    flushBatch(batch);
    written += batch.length;
    batch = [];
  }
}
function drainUntil(t: number): void {
  while (heap.length > 0 && heap[0]!.at <= t) write(pop().rec);
}

// ---- the orders
const expected: Record<string, number> = {};
const bump = (k: string) => {
  expected[k] = (expected[k] ?? 0) + 1;
};
const eventSeq = new Map<string, number>();
let t = Date.UTC(2026, 0, 1, 12);
let txN = 0;
const started = performance.now();

for (let i = 0; i < N; i++) {
  t += Math.max(1, Math.round(rng.exponentialMs(RATE)));
  drainUntil(t);
  const cid = `c${String(i % 50).padStart(3, '0')}`;
  const orderId = `o${i.toString(36)}`;
  const o = { cid, orderId };
  const nLines = rng.int(1, 3);
  const chosen = new Set<number>();
  while (chosen.size < nLines) chosen.add(rng.int(0, S - 1));
  const lines = [...chosen].map((s) => ({ sku: skus[s]!, qty: rng.int(1, 3) }));
  push({ type: 'accepted', at: t, ...o, lines });

  let at = t + rng.int(0, 2);
  if (rng.next() < 0.03) {
    push({ type: 'state', at: at + 1, ...o, state: 'rejected', reason: 'out_of_stock' });
    bump('rejected/out_of_stock');
    continue;
  }
  let committed: { tx: string; allocation: { terminal: string; sku: string; qty: number }[] } | null = null;
  let timedOut = false;
  for (let attempt = 0; attempt < 3 && !committed; attempt++) {
    const allocation = lines.map((l, k) => {
      const h = homes[skus.indexOf(l.sku)]!;
      return { terminal: h[(attempt + k) % 2]!, sku: l.sku, qty: l.qty };
    });
    const tx = `x.${(++txN).toString(36)}`;
    push({ type: 'tx', at, ...o, tx, allocation });
    const flaky = allocation.some((a) => a.terminal === FLAKY);
    const r = rng.next();
    const timeout = flaky ? r < 0.2 : r < 0.002;
    const refused = !timeout && r < (flaky ? 0.25 : 0.02);
    const prepareMs = timeout ? 3000 + rng.int(0, 20) : logNormal(6, 0.6);
    at += prepareMs;
    if (timeout || refused) {
      timedOut ||= timeout;
      push({ type: 'decision', at, ...o, tx, decision: 'abort' });
      push({ type: 'tx_done', at: at + rng.int(1, 10), tx });
      at += 1;
      continue;
    }
    push({ type: 'decision', at, ...o, tx, decision: 'commit' });
    committed = { tx, allocation };
  }
  if (!committed) {
    const reason = timedOut ? 'terminals_unavailable' : 'out_of_stock';
    push({ type: 'state', at: at + 1, ...o, state: timedOut ? 'failed' : 'rejected', reason });
    bump(`${timedOut ? 'failed' : 'rejected'}/${reason}`);
    continue;
  }
  const { tx, allocation } = committed;
  at += logNormal(3, 0.5);
  push({ type: 'state', at, ...o, state: 'confirmed', allocation, tx });
  push({ type: 'tx_done', at: at + rng.int(0, 3), tx });
  if (rng.next() < 0.02) {
    at += logNormal(800, 0.8);
    push({ type: 'decision', at, ...o, tx, decision: 'release' });
    push({ type: 'tx_done', at: at + rng.int(2, 20), tx });
    push({ type: 'state', at: at + rng.int(2, 20), ...o, state: 'cancelled', reason: 'cancelled_by_client' });
    bump('cancelled/cancelled_by_client');
    continue;
  }
  let last = at;
  for (const a of allocation) {
    const pickAt = at + logNormal(3000, 0.7);
    last = Math.max(last, pickAt);
    push({ type: 'picked', at: pickAt, ...o, tx, terminal: a.terminal, sku: a.sku, qty: a.qty });
  }
  push({ type: 'state', at: last + 1, ...o, state: 'fulfilled' });
  bump('fulfilled');

  if (i % 500 === 0) {
    const terminal = rng.pick(terminals);
    const seq = (eventSeq.get(terminal) ?? 0) + 1;
    eventSeq.set(terminal, seq);
    push({ type: 'terminal_event', at: t, terminal, kind: 'restock', sku: rng.pick(skus), qty: 50, seq });
  }
  if (i % 100_000 === 0 && i > 0)
    process.stderr.write(
      `gen-journal: ${i.toLocaleString('en-US')} orders, ${(written + batch.length).toLocaleString('en-US')} records\n`,
    );
}
drainUntil(Number.POSITIVE_INFINITY);
flushBatch(batch);
written += batch.length;
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();
process.stderr.write(
  `gen-journal: ${N.toLocaleString('en-US')} orders, ${written.toLocaleString('en-US')} records in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${file}\n`,
);
process.stdout.write(`${JSON.stringify({ orders: N, records: written, expected }, null, 1)}\n`);
