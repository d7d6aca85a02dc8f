/**
 * The embedded journal: SQLite through better-sqlite3, WAL mode with synchronous=FULL, so a
 * commit is on disk when it returns. Group commit: appends made in one turn of the event loop are
 * written in one transaction, one fsync for the whole group.
 */

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import type { Journal, JournalRecord, OrderRow, PickRow, RecoveredState, TxRow } from './journal.ts';

interface Pending {
  record: JournalRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
  cid TEXT NOT NULL, order_id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, lines TEXT NOT NULL,
  allocation TEXT, tx TEXT, accepted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, final INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (cid, order_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_open ON orders(final) WHERE final = 0;
CREATE TABLE IF NOT EXISTS txs (
  tx TEXT PRIMARY KEY, cid TEXT NOT NULL, order_id TEXT NOT NULL, allocation TEXT NOT NULL,
  decision TEXT, done INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog (terminal TEXT NOT NULL, sku TEXT NOT NULL, PRIMARY KEY (terminal, sku)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_open ON txs(done) WHERE done = 0;
CREATE TABLE IF NOT EXISTS picks (
  tx TEXT NOT NULL, terminal TEXT NOT NULL, sku TEXT NOT NULL, cid TEXT NOT NULL, order_id TEXT NOT NULL,
  qty INTEGER NOT NULL, PRIMARY KEY (tx, terminal, sku)) WITHOUT ROWID;
`;

const FINAL = new Set(['fulfilled', 'rejected', 'failed', 'cancelled']);

export class SqliteJournal implements Journal {
  private db: Db | null = null;
  private queue: Pending[] = [];
  private scheduled = false;
  private stmts!: {
    insertRecord: Statement;
    insertOrder: Statement;
    updateOrder: Statement;
    findOrder: Statement;
    upsertTx: Statement;
    decideTx: Statement;
    doneTx: Statement;
    insertPick: Statement;
    insertCatalog: Statement;
  };
  private readonly knownSkus = new Map<string, Set<string>>();

  constructor(readonly file: string) {}

  async open(): Promise<RecoveredState> {
    mkdirSync(dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    this.db = db;
    this.stmts = {
      insertRecord: db.prepare('INSERT INTO records (at, type, body) VALUES (?, ?, ?)'),
      insertOrder: db.prepare(
        'INSERT OR IGNORE INTO orders (cid, order_id, state, lines, accepted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      updateOrder: db.prepare(
        'UPDATE orders SET state = ?, reason = ?, allocation = coalesce(?, allocation), tx = coalesce(?, tx), updated_at = ?, final = ? WHERE cid = ? AND order_id = ?',
      ),
      findOrder: db.prepare('SELECT * FROM orders WHERE cid = ? AND order_id = ?'),
      upsertTx: db.prepare(
        'INSERT INTO txs (tx, cid, order_id, allocation, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(tx) DO NOTHING',
      ),
      // A decision reopens the tx: a release decided after the commit's tx_done is not acknowledged yet.
      decideTx: db.prepare('UPDATE txs SET decision = ?, done = 0, at = ? WHERE tx = ?'),
      doneTx: db.prepare('UPDATE txs SET done = 1, at = ? WHERE tx = ?'),
      insertCatalog: db.prepare('INSERT OR IGNORE INTO catalog (terminal, sku) VALUES (?, ?)'),
      insertPick: db.prepare(
        'INSERT OR IGNORE INTO picks (tx, terminal, sku, cid, order_id, qty) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    };
    for (const row of db.prepare('SELECT terminal, sku FROM catalog').all() as {
      terminal: string;
      sku: string;
    }[]) {
      this.remember(row.terminal, row.sku);
    }
    const openOrders = (db.prepare('SELECT * FROM orders WHERE final = 0').all() as SqlOrder[]).map(
      toOrderRow,
    );
    const openTxs = (db.prepare('SELECT * FROM txs WHERE done = 0').all() as SqlTx[]).map(toTxRow);
    const picks = (
      db
        .prepare(
          'SELECT p.* FROM picks p JOIN orders o ON o.cid = p.cid AND o.order_id = p.order_id WHERE o.final = 0',
        )
        .all() as SqlPick[]
    ).map(
      (p) =>
        ({
          tx: p.tx,
          terminal: p.terminal,
          sku: p.sku,
          cid: p.cid,
          orderId: p.order_id,
          qty: p.qty,
        }) satisfies PickRow,
    );
    const records = (db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n;
    return { openOrders, openTxs, picks, records };
  }

  append(record: JournalRecord): Promise<void> {
    if (!this.db) return Promise.reject(new Error('journal is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  findOrder(cid: string, orderId: string): OrderRow | undefined {
    if (!this.db) return undefined;
    const row = this.stmts.findOrder.get(cid, orderId) as SqlOrder | undefined;
    return row ? toOrderRow(row) : undefined;
  }

  catalog(): Map<string, Set<string>> {
    return this.knownSkus;
  }

  rememberSkus(terminal: string, skus: readonly string[]): void {
    const fresh = skus.filter((sku) => this.remember(terminal, sku));
    if (fresh.length === 0 || !this.db) return;
    // Rare (a terminal's first appearance or a new SKU): a direct write is fine.
    this.db.transaction(() => {
      for (const sku of fresh) this.stmts.insertCatalog.run(terminal, sku);
    })();
  }

  private remember(terminal: string, sku: string): boolean {
    let skus = this.knownSkus.get(terminal);
    if (!skus) {
      skus = new Set();
      this.knownSkus.set(terminal, skus);
    }
    if (skus.has(sku)) return false;
    skus.add(sku);
    return true;
  }

  *history(): Iterable<JournalRecord & { seq: number }> {
    if (!this.db) return;
    for (const row of this.db.prepare('SELECT seq, body FROM records ORDER BY seq').iterate() as Iterable<{
      seq: number;
      body: string;
    }>) {
      yield { ...(JSON.parse(row.body) as JournalRecord), seq: row.seq };
    }
  }

  async close(): Promise<void> {
    if (!this.db) return;
    this.flush();
    this.db.close();
    this.db = null;
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const db = this.db;
    if (!db) {
      for (const p of batch) p.reject(new Error('journal is closed'));
      return;
    }
    try {
      db.transaction(() => {
        for (const p of batch) this.write(p.record);
      })();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    for (const p of batch) p.resolve();
  }

  private write(r: JournalRecord): void {
    const s = this.stmts;
    s.insertRecord.run(r.at, r.type, JSON.stringify(r));
    switch (r.type) {
      case 'accepted':
        s.insertOrder.run(r.cid, r.orderId, 'accepted', JSON.stringify(r.lines), r.at, r.at);
        break;
      case 'state':
        s.updateOrder.run(
          r.state,
          r.reason ?? null,
          r.allocation ? JSON.stringify(r.allocation) : null,
          r.tx ?? null,
          r.at,
          FINAL.has(r.state) ? 1 : 0,
          r.cid,
          r.orderId,
        );
        break;
      case 'tx':
        s.upsertTx.run(r.tx, r.cid, r.orderId, JSON.stringify(r.allocation), r.at);
        break;
      case 'decision':
        s.decideTx.run(r.decision, r.at, r.tx);
        break;
      case 'tx_done':
        s.doneTx.run(r.at, r.tx);
        break;
      case 'picked':
        s.insertPick.run(r.tx, r.terminal, r.sku, r.cid, r.orderId, r.qty);
        break;
      case 'terminal_event':
        break;
    }
  }
}

interface SqlOrder {
  cid: string;
  order_id: string;
  state: string;
  reason: string | null;
  lines: string;
  allocation: string | null;
  tx: string | null;
  accepted_at: number;
  updated_at: number;
}
interface SqlTx {
  tx: string;
  cid: string;
  order_id: string;
  allocation: string;
  decision: string | null;
  done: number;
  at: number;
}
interface SqlPick {
  tx: string;
  terminal: string;
  sku: string;
  cid: string;
  order_id: string;
  qty: number;
}

function toOrderRow(r: SqlOrder): OrderRow {
  const row: OrderRow = {
    cid: r.cid,
    orderId: r.order_id,
    state: r.state as OrderRow['state'],
    lines: JSON.parse(r.lines) as OrderRow['lines'],
    acceptedAt: r.accepted_at,
    updatedAt: r.updated_at,
  };
  if (r.reason !== null) row.reason = r.reason;
  if (r.allocation !== null) row.allocation = JSON.parse(r.allocation) as OrderRow['allocation'];
  if (r.tx !== null) row.tx = r.tx;
  return row;
}

function toTxRow(r: SqlTx): TxRow {
  const row: TxRow = {
    tx: r.tx,
    cid: r.cid,
    orderId: r.order_id,
    allocation: JSON.parse(r.allocation) as TxRow['allocation'],
    done: r.done === 1,
    at: r.at,
  };
  if (r.decision !== null) row.decision = r.decision as TxRow['decision'];
  return row;
}
