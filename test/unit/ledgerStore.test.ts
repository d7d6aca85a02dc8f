import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Ledger, type LedgerOp } from '../../firmware/ledger.ts';
import { LedgerStore } from '../../firmware/ledgerStore.ts';

let dir: string;
const open: LedgerStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-ledger-'));
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openStore(opts: { compactEvery?: number; sync?: boolean; tombstoneMaxAgeMs?: number } = {}) {
  const s = await LedgerStore.open({ dir, sync: false, ...opts });
  open.push(s);
  return s;
}

async function closeStore(s: LedgerStore) {
  await s.close();
  open.splice(open.indexOf(s), 1);
}

const logPath = () => join(dir, 'ledger.jsonl');
const logLines = () =>
  readFileSync(logPath(), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

describe('LedgerStore', () => {
  it('a brand-new store is empty and recovers nothing', async () => {
    const s = await openStore();
    expect(s.isEmpty).toBe(true);
    expect(s.recovery).toEqual({ snapshotSeq: 0, replayed: 0, tornTail: false });
  });

  it('ops survive close and reopen', async () => {
    const now = Date.now();
    const s = await openStore({ sync: true });
    expect(await s.apply({ op: 'restock', sku: 'A', qty: 10, at: now })).toEqual({ ok: true, changed: true });
    await s.apply({ op: 'restock', sku: 'B', qty: 3, at: now });
    await s.apply({ op: 'prepare', tx: 'p', lines: [{ sku: 'A', qty: 2 }], ttlMs: 1000, at: now });
    await s.apply({
      op: 'prepare',
      tx: 'c',
      lines: [
        { sku: 'A', qty: 3 },
        { sku: 'B', qty: 1 },
      ],
      ttlMs: 1000,
      at: now,
    });
    await s.apply({ op: 'commit', tx: 'c', at: now });
    await s.apply({ op: 'abort', tx: 'ghost', at: now });
    const snap = s.ledger.snapshot();
    expect(s.isEmpty).toBe(false);
    // every change is a line of the log carrying its seq
    expect(logLines().map((l) => (JSON.parse(l) as { s: number }).s)).toEqual([1, 2, 3, 4, 5, 6]);
    await closeStore(s);

    const again = await openStore();
    expect(again.recovery).toEqual({ snapshotSeq: 0, replayed: 6, tornTail: false });
    expect(again.ledger.snapshot()).toEqual(snap);
    expect(again.ledger.item('A')).toEqual({ onHand: 10, reserved: 2, committed: 3 });
    // the prepared reservation is restored and can still be decided
    expect(await again.apply({ op: 'commit', tx: 'p', at: now })).toEqual({ ok: true, changed: true });
    // the tombstone survived: a late prepare is refused
    expect(
      await again.apply({ op: 'prepare', tx: 'ghost', lines: [{ sku: 'A', qty: 1 }], ttlMs: 1, at: now }),
    ).toEqual({
      ok: false,
      code: 'aborted',
      changed: false,
    });
    await closeStore(again);

    // a third generation starts from the snapshot the second wrote
    const third = await openStore();
    expect(third.recovery).toEqual({ snapshotSeq: 6, replayed: 1, tornTail: false });
    expect(third.ledger.item('A')).toEqual({ onHand: 10, reserved: 0, committed: 5 });
  });

  it('unchanged ops write nothing', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 1, at: 0 });
    expect(await s.apply({ op: 'commit', tx: 'nope', at: 0 })).toEqual({
      ok: false,
      code: 'unknown_tx',
      changed: false,
    });
    expect(await s.apply({ op: 'count', sku: 'A', qty: 1, at: 0 })).toEqual({ ok: true, changed: true });
    expect(logLines()).toHaveLength(2);
  });

  it('group commit: many concurrent applies all resolve, share writes, and all survive', async () => {
    const s = await openStore({ sync: true });
    const log = (s as unknown as { log: FileHandle }).log;
    const write = vi.spyOn(log, 'write');
    const datasync = vi.spyOn(log, 'datasync');
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => s.apply({ op: 'restock', sku: `S${i % 7}`, qty: i + 1, at: i })),
    );
    expect(results.every((r) => r.ok && r.changed)).toBe(true);
    expect(write.mock.calls.length).toBeGreaterThan(0);
    expect(write.mock.calls.length).toBeLessThan(n / 10);
    expect(datasync.mock.calls.length).toBe(write.mock.calls.length);
    expect(logLines()).toHaveLength(n);
    const snap = s.ledger.snapshot();
    await closeStore(s);

    const again = await openStore();
    expect(again.recovery.replayed).toBe(n);
    expect(again.ledger.snapshot()).toEqual(snap);
    const total = again.ledger.skus().reduce((sum, sku) => sum + again.ledger.item(sku)!.onHand, 0);
    expect(total).toBe((n * (n + 1)) / 2);
  });

  it('an idempotent answer waits for the durable write of the original', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 5, at: 0 });
    const first = s.apply({ op: 'prepare', tx: 't', lines: [{ sku: 'A', qty: 1 }], ttlMs: 10, at: 0 });
    const order: string[] = [];
    const p1 = first.then(() => order.push('first'));
    const p2 = s
      .apply({ op: 'prepare', tx: 't', lines: [{ sku: 'A', qty: 1 }], ttlMs: 10, at: 0 })
      .then((r) => {
        order.push('dup');
        expect(r).toEqual({ ok: true, changed: false });
        // by the time the duplicate answers, the original is on disk
        expect(logLines().some((l) => (JSON.parse(l) as { tx?: string }).tx === 't')).toBe(true);
      });
    await Promise.all([p1, p2]);
    expect(order).toEqual(['first', 'dup']);
  });

  it('a torn last line is skipped', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 5, at: 0 });
    await s.apply({ op: 'restock', sku: 'A', qty: 6, at: 0 });
    await closeStore(s);
    appendFileSync(logPath(), '{"op":"restock","sku":"A","qt');

    const again = await openStore();
    expect(again.recovery).toEqual({ snapshotSeq: 0, replayed: 2, tornTail: true });
    expect(again.ledger.item('A')!.onHand).toBe(11);
    expect(again.ledger.seq).toBe(2);
  });

  it('a torn last line followed by a newline is still a torn tail', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 5, at: 0 });
    await closeStore(s);
    appendFileSync(logPath(), '{"op":\n');
    const again = await openStore();
    expect(again.recovery.tornTail).toBe(true);
    expect(again.ledger.item('A')!.onHand).toBe(5);
  });

  it('a corrupt line in the middle is an error naming the line', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 5, at: 0 });
    await s.apply({ op: 'restock', sku: 'A', qty: 6, at: 0 });
    await s.apply({ op: 'restock', sku: 'A', qty: 7, at: 0 });
    await closeStore(s);
    const lines = readFileSync(logPath(), 'utf8').split('\n');
    lines[1] = '{"op":"restock",###';
    writeFileSync(logPath(), lines.join('\n'));
    await expect(LedgerStore.open({ dir, sync: false })).rejects.toThrow(/line 2 is corrupt/);
  });

  it('a log line that does not replay to its seq is an error', async () => {
    writeFileSync(
      logPath(),
      `${JSON.stringify({ op: 'restock', sku: 'A', qty: 1, at: 0, s: 1 })}\n${JSON.stringify({ op: 'commit', tx: 'x', at: 0, s: 2 })}\n`,
    );
    await expect(LedgerStore.open({ dir, sync: false })).rejects.toThrow(
      /line 2: replay reached seq 1, log says 2/,
    );
  });

  it('a corrupt snapshot is an error', async () => {
    writeFileSync(join(dir, 'snapshot.json'), '{"seq": 3, "items"');
    await expect(LedgerStore.open({ dir, sync: false })).rejects.toThrow(/snapshot .* is corrupt/);
  });

  it('a log repeating ops already in the snapshot does not apply them twice', async () => {
    // The state of a crash between renaming the snapshot and truncating the log.
    const now = Date.now();
    const ops: LedgerOp[] = [
      { op: 'restock', sku: 'A', qty: 10, at: now },
      { op: 'prepare', tx: 't1', lines: [{ sku: 'A', qty: 4 }], ttlMs: 1000, at: now },
      { op: 'commit', tx: 't1', at: now },
      { op: 'restock', sku: 'A', qty: 1, at: now },
      { op: 'pick', tx: 't1', at: now },
      { op: 'restock', sku: 'B', qty: 2, at: now },
    ];
    const ledger = new Ledger();
    const lines: string[] = [];
    let snapshot = ledger.snapshot();
    for (const [i, op] of ops.entries()) {
      ledger.apply(op);
      lines.push(JSON.stringify({ ...op, s: ledger.seq }));
      if (i === 3) snapshot = ledger.snapshot();
    }
    expect(snapshot.seq).toBe(4);
    writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(snapshot));
    writeFileSync(logPath(), `${lines.join('\n')}\n`);

    const s = await openStore();
    expect(s.recovery).toEqual({ snapshotSeq: 4, replayed: 2, tornTail: false });
    expect(s.ledger.snapshot()).toEqual(ledger.snapshot());
    expect(s.ledger.item('A')).toEqual({ onHand: 7, reserved: 0, committed: 0 });
    expect(s.ledger.item('B')).toEqual({ onHand: 2, reserved: 0, committed: 0 });
  });

  it('a log entirely inside the snapshot replays nothing', async () => {
    const ledger = new Ledger();
    const lines: string[] = [];
    for (let i = 0; i < 3; i++) {
      ledger.apply({ op: 'restock', sku: 'A', qty: 1, at: 0 });
      lines.push(JSON.stringify({ op: 'restock', sku: 'A', qty: 1, at: 0, s: ledger.seq }));
    }
    writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(ledger.snapshot()));
    writeFileSync(logPath(), `${lines.join('\n')}\n`);
    const s = await openStore();
    expect(s.recovery).toEqual({ snapshotSeq: 3, replayed: 0, tornTail: false });
    expect(s.ledger.item('A')!.onHand).toBe(3);
  });

  it('opening writes a fresh snapshot and an empty log', async () => {
    const s = await openStore();
    await s.apply({ op: 'restock', sku: 'A', qty: 1, at: 0 });
    await s.apply({ op: 'restock', sku: 'A', qty: 1, at: 0 });
    await closeStore(s);
    await openStore();
    expect(logLines()).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8'))).toMatchObject({
      seq: 2,
      items: { A: { onHand: 2, reserved: 0, committed: 0 } },
    });
  });

  it('compaction after compactEvery lines keeps state, and writes after it stay readable', async () => {
    const now = Date.now();
    const s = await openStore({ compactEvery: 5 });
    for (let i = 0; i < 23; i++) {
      await s.apply({ op: 'restock', sku: `S${i % 3}`, qty: 1, at: now });
      // apply() resolves once the op is on disk; the compaction that may follow finishes by drain()
      await s.drain();
      expect(logLines().length).toBeLessThan(5);
    }
    await s.apply({ op: 'prepare', tx: 't', lines: [{ sku: 'S0', qty: 2 }], ttlMs: 1000, at: now });
    await s.drain();
    const snap = s.ledger.snapshot();
    const onDisk = JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as { seq: number };
    expect(onDisk.seq).toBe(20);
    // every line of the log parses (no hole left where the truncated log used to end)
    for (const l of logLines()) expect(() => JSON.parse(l)).not.toThrow();
    expect(readFileSync(logPath(), 'utf8')).not.toContain('\u0000');
    await closeStore(s);

    const again = await openStore();
    expect(again.recovery).toEqual({ snapshotSeq: 20, replayed: 4, tornTail: false });
    expect(again.ledger.snapshot()).toEqual(snap);
    expect(again.ledger.item('S0')).toEqual({ onHand: 8, reserved: 2, committed: 0 });
  });

  it('with many transactions held, compaction waits for as many log lines (its cost stays per op)', async () => {
    const now = Date.now();
    const s = await openStore({ compactEvery: 5 });
    let compactions = 0;
    let before = 0;
    for (let i = 0; i < 60; i++) {
      await s.apply({ op: 'abort', tx: `x${i}`, at: now });
      for (let k = 0; k < 3; k++) await s.apply({ op: 'restock', sku: 'A', qty: 1, at: now });
      await s.drain();
      const lines = logLines().length;
      if (lines < before) compactions++;
      before = lines;
      expect(lines).toBeLessThanOrEqual(Math.max(5, s.ledger.txCount) + 3);
    }
    // 240 ops: compacted at 5, 8, 12, ... lines as the tombstones grew, not every 5 lines (48 times).
    expect(compactions).toBeGreaterThan(3);
    expect(compactions).toBeLessThan(20);
    await closeStore(s);
    const again = await openStore();
    expect(again.ledger.item('A')!.onHand).toBe(180);
    for (let i = 0; i < 60; i++) expect(again.ledger.tx(`x${i}`)).toMatchObject({ status: 'aborted' });
  });

  it('compaction under concurrent load keeps every op', async () => {
    const s = await openStore({ compactEvery: 7 });
    const n = 100;
    await Promise.all(
      Array.from({ length: n }, (_, i) => s.apply({ op: 'restock', sku: 'A', qty: 1, at: i })),
    );
    for (let i = 0; i < n; i++) await s.apply({ op: 'restock', sku: 'A', qty: 1, at: i });
    await closeStore(s);
    const again = await openStore();
    expect(again.ledger.item('A')!.onHand).toBe(2 * n);
    expect(again.ledger.seq).toBe(2 * n);
  });

  it('old tombstones are collected at open, recent ones kept', async () => {
    const now = Date.now();
    const s = await openStore({ tombstoneMaxAgeMs: 60_000 });
    await s.apply({ op: 'abort', tx: 'old', at: now - 120_000 });
    await s.apply({ op: 'abort', tx: 'recent', at: now });
    await closeStore(s);
    const again = await openStore({ tombstoneMaxAgeMs: 60_000 });
    expect(again.ledger.tx('old')).toBeUndefined();
    expect(again.ledger.tx('recent')).toMatchObject({ status: 'aborted' });
    expect(again.ledger.seq).toBe(2);
  });

  it('apply after close is refused; close twice is harmless', async () => {
    const s = await openStore();
    await closeStore(s);
    await expect(s.apply({ op: 'restock', sku: 'A', qty: 1, at: 0 })).rejects.toThrow(/closed/);
    await expect(s.close()).resolves.toBeUndefined();
  });

  it('close waits for writes in flight', async () => {
    const s = await openStore();
    const pending = Array.from({ length: 20 }, (_, i) => s.apply({ op: 'restock', sku: 'A', qty: 1, at: i }));
    await closeStore(s);
    await Promise.all(pending);
    expect(logLines()).toHaveLength(20);
  });
});
