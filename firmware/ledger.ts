/**
 * The stock terminal's ledger, as pure logic: onHand, reserved and committed per SKU, and the
 * participant side of two-phase commit. Every mutation is an `LedgerOp`; applying the same op log
 * to an empty ledger rebuilds the same state, which is how the durable store recovers.
 *
 * Idempotency is by `tx`: a command seen again answers as it did the first time. Aborted and
 * released transactions leave tombstones, so a late or duplicated `prepare` is refused.
 */
import { mutation } from '../lib/mutations.ts';
import type { CommandOp, Inventory, OrderLine, ReplyCode, StockItem } from '../protocol/index.ts';

export type TxStatus = 'prepared' | 'committed' | 'picked' | 'aborted' | 'released';

export interface TxRecord {
  status: TxStatus;
  lines: OrderLine[];
  /** When the reservation was made and how long it may wait for a decision before inquiring. */
  preparedAt: number;
  ttlMs: number;
  /** When it reached its current status (tombstones are collected by age). */
  at: number;
}

export type LedgerOp =
  | { op: 'prepare'; tx: string; lines: OrderLine[]; ttlMs: number; at: number }
  | { op: 'commit'; tx: string; at: number }
  | { op: 'abort'; tx: string; at: number }
  | { op: 'release'; tx: string; at: number }
  | { op: 'pick'; tx: string; at: number }
  | { op: 'restock'; sku: string; qty: number; at: number }
  | { op: 'count'; sku: string; qty: number; at: number };

export interface LedgerResult {
  ok: boolean;
  code?: ReplyCode | 'below_held';
  /** True when the op changed state, so it must be persisted and inventory re-published. */
  changed: boolean;
}

export interface LedgerSnapshot {
  seq: number;
  items: Record<string, StockItem>;
  txs: Record<string, TxRecord>;
}

const TOMBSTONE_STATUSES: ReadonlySet<TxStatus> = new Set(['aborted', 'released', 'picked']);

export class Ledger {
  private readonly items = new Map<string, StockItem>();
  private readonly txs = new Map<string, TxRecord>();
  /** Bumped on every change; published with the inventory so readers can order what they see. */
  private seqNo = 0;

  static fromSnapshot(snapshot: LedgerSnapshot): Ledger {
    const ledger = new Ledger();
    ledger.seqNo = snapshot.seq;
    for (const [sku, item] of Object.entries(snapshot.items)) ledger.items.set(sku, { ...item });
    for (const [tx, rec] of Object.entries(snapshot.txs)) {
      ledger.txs.set(tx, { ...rec, lines: rec.lines.map((l) => ({ ...l })) });
    }
    return ledger;
  }

  get seq(): number {
    return this.seqNo;
  }

  snapshot(): LedgerSnapshot {
    return {
      seq: this.seqNo,
      items: Object.fromEntries([...this.items].map(([sku, item]) => [sku, { ...item }])),
      txs: Object.fromEntries(
        [...this.txs].map(([tx, rec]) => [tx, { ...rec, lines: rec.lines.map((l) => ({ ...l })) }]),
      ),
    };
  }

  /**
   * The snapshot as JSON, without the deep copy `snapshot()` makes: the ledger store writes it at
   * every compaction, and an hour of tombstones is tens of thousands of transactions.
   */
  snapshotJson(): string {
    return JSON.stringify({
      seq: this.seqNo,
      items: Object.fromEntries(this.items),
      txs: Object.fromEntries(this.txs),
    } satisfies LedgerSnapshot);
  }

  /** Transactions held (open ones and tombstones). */
  get txCount(): number {
    return this.txs.size;
  }

  inventory(): Inventory {
    return {
      seq: this.seqNo,
      items: Object.fromEntries([...this.items].map(([sku, item]) => [sku, { ...item }])),
    };
  }

  skus(): string[] {
    return [...this.items.keys()].sort();
  }

  item(sku: string): StockItem | undefined {
    const item = this.items.get(sku);
    return item ? { ...item } : undefined;
  }

  available(sku: string): number {
    const item = this.items.get(sku);
    return item ? item.onHand - item.reserved - item.committed : 0;
  }

  tx(tx: string): Readonly<TxRecord> | undefined {
    return this.txs.get(tx);
  }

  /** Committed transactions waiting for their pick, oldest first. */
  pendingPicks(): { tx: string; lines: OrderLine[]; at: number }[] {
    return [...this.txs]
      .filter(([, rec]) => rec.status === 'committed')
      .map(([tx, rec]) => ({ tx, lines: rec.lines, at: rec.at }))
      .sort((a, b) => a.at - b.at);
  }

  /** Prepared transactions whose TTL has passed: the terminal must ask for their decision. */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [tx, rec] of this.txs) {
      if (rec.status === 'prepared' && now - rec.preparedAt >= rec.ttlMs) out.push(tx);
    }
    return out;
  }

  apply(op: LedgerOp): LedgerResult {
    switch (op.op) {
      case 'prepare':
        return this.prepare(op.tx, op.lines, op.ttlMs, op.at);
      case 'commit':
        return this.commit(op.tx, op.at);
      case 'abort':
        return this.abort(op.tx, op.at);
      case 'release':
        return this.release(op.tx, op.at);
      case 'pick':
        return this.pick(op.tx, op.at);
      case 'restock':
        return this.restock(op.sku, op.qty);
      case 'count':
        return this.count(op.sku, op.qty);
    }
  }

  /** Drops tombstones older than `maxAgeMs`; prepared and committed transactions are never dropped. */
  collect(now: number, maxAgeMs: number): number {
    let dropped = 0;
    for (const [tx, rec] of this.txs) {
      if (TOMBSTONE_STATUSES.has(rec.status) && now - rec.at > maxAgeMs) {
        this.txs.delete(tx);
        dropped++;
      }
    }
    return dropped;
  }

  private prepare(tx: string, lines: OrderLine[], ttlMs: number, at: number): LedgerResult {
    const existing = this.txs.get(tx);
    if (existing && mutation('no-dedupe') && existing.status === 'prepared') {
      // Mutation: a duplicate prepare reserves again.
      for (const line of existing.lines) this.items.get(line.sku)!.reserved += line.qty;
      existing.lines = [...existing.lines, ...existing.lines.map((l) => ({ ...l }))];
      return this.changed();
    }
    if (existing) {
      if (existing.status === 'prepared' || existing.status === 'committed' || existing.status === 'picked') {
        return { ok: true, changed: false };
      }
      return { ok: false, code: 'aborted', changed: false };
    }
    for (const line of lines) {
      if (!this.items.has(line.sku)) return { ok: false, code: 'unknown_sku', changed: false };
      if (this.available(line.sku) < line.qty) return { ok: false, code: 'insufficient', changed: false };
    }
    for (const line of lines) this.items.get(line.sku)!.reserved += line.qty;
    this.txs.set(tx, { status: 'prepared', lines: lines.map((l) => ({ ...l })), preparedAt: at, ttlMs, at });
    return this.changed();
  }

  private commit(tx: string, at: number): LedgerResult {
    const rec = this.txs.get(tx);
    if (!rec) return { ok: false, code: 'unknown_tx', changed: false };
    switch (rec.status) {
      case 'committed':
        return { ok: true, changed: false };
      case 'picked':
        return { ok: true, code: 'picked', changed: false };
      case 'released':
        return { ok: true, code: 'released', changed: false };
      case 'aborted':
        return { ok: false, code: 'aborted', changed: false };
      case 'prepared':
        for (const line of rec.lines) {
          const item = this.items.get(line.sku)!;
          item.reserved -= line.qty;
          item.committed += line.qty;
        }
        rec.status = 'committed';
        rec.at = at;
        return this.changed();
    }
  }

  private abort(tx: string, at: number): LedgerResult {
    const rec = this.txs.get(tx);
    if (!rec) {
      // Presumed abort reaches us before (or instead of) the prepare: leave a tombstone so a late
      // prepare is refused.
      this.txs.set(tx, { status: 'aborted', lines: [], preparedAt: at, ttlMs: 0, at });
      return this.changed();
    }
    switch (rec.status) {
      case 'aborted':
        return { ok: true, changed: false };
      case 'committed':
      case 'picked':
      case 'released':
        return { ok: false, code: 'committed', changed: false };
      case 'prepared':
        for (const line of rec.lines) this.items.get(line.sku)!.reserved -= line.qty;
        rec.status = 'aborted';
        rec.at = at;
        return this.changed();
    }
  }

  private release(tx: string, at: number): LedgerResult {
    const rec = this.txs.get(tx);
    if (!rec) {
      this.txs.set(tx, { status: 'released', lines: [], preparedAt: at, ttlMs: 0, at });
      return this.changed();
    }
    switch (rec.status) {
      case 'released':
        return { ok: true, changed: false };
      case 'aborted':
        return { ok: true, code: 'aborted', changed: false };
      case 'picked':
        // The goods already left the shelf: nothing to return.
        return { ok: true, code: 'picked', changed: false };
      case 'prepared':
        for (const line of rec.lines) this.items.get(line.sku)!.reserved -= line.qty;
        break;
      case 'committed':
        for (const line of rec.lines) this.items.get(line.sku)!.committed -= line.qty;
        break;
    }
    rec.status = 'released';
    rec.at = at;
    return this.changed();
  }

  private pick(tx: string, at: number): LedgerResult {
    const rec = this.txs.get(tx);
    if (!rec) return { ok: false, code: 'unknown_tx', changed: false };
    if (rec.status === 'picked') return { ok: true, changed: false };
    if (rec.status === 'prepared') return { ok: false, code: 'unknown_tx', changed: false };
    if (rec.status !== 'committed') return { ok: false, code: rec.status, changed: false };
    for (const line of rec.lines) {
      const item = this.items.get(line.sku)!;
      item.committed -= line.qty;
      item.onHand -= line.qty;
    }
    rec.status = 'picked';
    rec.at = at;
    return this.changed();
  }

  private restock(sku: string, qty: number): LedgerResult {
    const item = this.items.get(sku);
    if (item) item.onHand += qty;
    else this.items.set(sku, { onHand: qty, reserved: 0, committed: 0 });
    return this.changed();
  }

  /**
   * A physical count sets onHand. A count below what is held (reserved + committed) is refused:
   * accepting it would make `available` negative, which is an oversell by definition.
   */
  private count(sku: string, qty: number): LedgerResult {
    const item = this.items.get(sku) ?? { onHand: 0, reserved: 0, committed: 0 };
    if (qty < item.reserved + item.committed) return { ok: false, code: 'below_held', changed: false };
    this.items.set(sku, item);
    item.onHand = qty;
    return this.changed();
  }

  private changed(): LedgerResult {
    this.seqNo++;
    return { ok: true, changed: true };
  }
}

/** The ledger ops that correspond to a gateway command. */
export function commandToOp(
  cmd: { op: CommandOp; tx: string; lines?: OrderLine[]; ttlMs?: number },
  at: number,
  defaultTtlMs: number,
): LedgerOp {
  if (cmd.op === 'prepare') {
    return { op: 'prepare', tx: cmd.tx, lines: cmd.lines ?? [], ttlMs: cmd.ttlMs ?? defaultTtlMs, at };
  }
  return { op: cmd.op, tx: cmd.tx, at };
}
