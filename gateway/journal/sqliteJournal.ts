/**
 * The embedded journal: SQLite through better-sqlite3 in WAL mode. Group commit: the appends of
 * one group (one turn of the event loop, or everything appended while the previous group was
 * syncing) are written in one transaction, and one fdatasync of the WAL makes the whole group
 * durable before any of its appends resolves.
 *
 * The sync runs off the event loop: SQLite writes the WAL without syncing (synchronous=OFF) and
 * the journal fdatasyncs the WAL file on libuv's thread pool while the gateway goes on; what is
 * appended meanwhile waits for that sync to end and then goes as the next group (one transaction,
 * one sync), so groups grow with the load. (A blocking sync per commit, synchronous=FULL, held
 * the whole gateway for the length of every fsync.) Checkpoints, which copy the WAL into the
 * database and then reuse the WAL, are the journal's own: every CHECKPOINT_GROUPS groups,
 * without blocking either (see checkpointInBackground: the database file is synced before the WAL
 * is reused); at open and at close (SQLite's own), with synchronous=FULL.
 */

import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
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

/**
 * Checkpoint after this many groups (transactions). A group writes a few pages (~4 KiB each) to
 * the WAL; SQLite's own default is a checkpoint every 1000 pages.
 */
const CHECKPOINT_GROUPS = 200;

export class SqliteJournal implements Journal {
  private db: Db | null = null;
  private queue: Pending[] = [];
  private scheduled = false;
  /** Written to the WAL, waiting for the next sync. */
  private unsynced: Pending[] = [];
  /** The fdatasync in flight, if any. */
  private syncing: Promise<void> | null = null;
  private walFd: number | null = null;
  private dbFd: number | null = null;
  /** A failed sync: what is durable is unknown, so every later append fails too (restart to recover). */
  private broken: Error | null = null;
  private checkpointedAt = 0;
  /** Groups written since the last checkpoint. */
  private groups = 0;
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
  /** Every SKU of the catalog, whatever the terminal (intake asks per order line). */
  private readonly allSkus = new Set<string>();

  constructor(readonly file: string) {}

  async open(): Promise<RecoveredState> {
    mkdirSync(dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    // Durability is the journal's (see the top of this file): no sync inside SQLite's commits,
    // and no automatic checkpoints.
    db.pragma('synchronous = OFF');
    db.pragma('wal_autocheckpoint = 0');
    db.exec(SCHEMA);
    // Whatever a previous run left in the WAL goes into the database now (synced).
    this.checkpoint(db);
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
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      // While a sync is in flight, records wait for it to end and then go as one group.
      if (!this.scheduled && !this.syncing) {
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

  knowsSku(sku: string): boolean {
    return this.allSkus.has(sku);
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
    this.allSkus.add(sku);
    return true;
  }

  *history(): Iterable<JournalRecord & { journalSeq: number }> {
    if (!this.db) return;
    for (const row of this.db.prepare('SELECT seq, body FROM records ORDER BY seq').iterate() as Iterable<{
      seq: number;
      body: string;
    }>) {
      yield { ...(JSON.parse(row.body) as JournalRecord), journalSeq: row.seq };
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    if (!db) return;
    while (this.syncing || this.queue.length > 0) {
      if (this.syncing) await this.syncing;
      else this.flush();
    }
    // SQLite checkpoints into the database on close: with a sync.
    db.pragma('synchronous = FULL');
    db.close();
    this.db = null;
    if (this.walFd !== null) closeSync(this.walFd);
    if (this.dbFd !== null) closeSync(this.dbFd);
    this.walFd = null;
    this.dbFd = null;
  }

  /** Writes the queued records in one transaction and syncs them, unless a sync is in flight. */
  private flush(): void {
    this.scheduled = false;
    if (this.syncing) return; // the sync's end flushes
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const db = this.db;
    if (!db || this.broken) {
      for (const p of batch) p.reject(this.broken ?? new Error('journal is closed'));
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
    for (const p of batch) this.unsynced.push(p);
    this.sync();
  }

  /** Makes everything written so far durable (one fdatasync for all of it), then resolves it. */
  private sync(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    const batch = this.unsynced;
    this.unsynced = [];
    let fd: number;
    try {
      fd = this.wal();
    } catch (err) {
      this.fail(err as Error, batch);
      return;
    }
    this.syncing = new Promise<void>((resolve) => {
      fdatasync(fd, (err) => {
        this.syncing = null;
        if (err) this.fail(err, batch);
        else for (const p of batch) p.resolve();
        resolve();
        if (!this.db || this.broken) return;
        // Every CHECKPOINT_GROUPS groups (the WAL's file size says nothing once it is reused), at
        // most 10 a second.
        this.groups++;
        if (this.groups >= CHECKPOINT_GROUPS && Date.now() - this.checkpointedAt >= 100)
          this.checkpointInBackground(this.db);
        // What was appended meanwhile: the next group (after the checkpoint's sync, if one began).
        else this.flush();
      });
    });
  }

  /**
   * A checkpoint that does not hold the event loop for its syncs: everything in the WAL is durable
   * (this runs right after a sync, before anything else is written), SQLite copies it into the
   * database without syncing (PASSIVE: the WAL itself is left as it is), and the database file is
   * then fdatasynced on the thread pool. Nothing is written meanwhile (appends wait as they do for
   * a WAL sync), so the WAL is reused (by the next write) only once the database file is durable.
   */
  private checkpointInBackground(db: Db): void {
    this.checkpointedAt = Date.now();
    this.groups = 0;
    let fd: number;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
      fd = this.dbFile();
    } catch {
      // The WAL stays as it is (durable); a later sync tries again.
      this.flush();
      return;
    }
    this.syncing = new Promise<void>((resolve) => {
      fdatasync(fd, (err) => {
        this.syncing = null;
        if (err) this.fail(err, []);
        resolve();
        this.flush();
      });
    });
  }

  private dbFile(): number {
    if (this.dbFd === null) this.dbFd = openSync(this.file, 'r+');
    return this.dbFd;
  }

  private fail(err: Error, batch: Pending[]): void {
    this.broken = new Error(`journal sync failed: ${err.message}`);
    for (const p of [...batch, ...this.unsynced, ...this.queue]) p.reject(this.broken);
    this.unsynced = [];
    this.queue = [];
  }

  /** The WAL file, opened once (SQLite keeps it, truncated at checkpoints, while the db is open). */
  private wal(): number {
    if (this.walFd === null) this.walFd = openSync(`${this.file}-wal`, 'r+');
    return this.walFd;
  }

  /** Copies the WAL into the database, syncing both, and truncates the WAL (blocking: at open). */
  private checkpoint(db: Db): void {
    this.checkpointedAt = Date.now();
    db.pragma('synchronous = FULL');
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.pragma('synchronous = OFF');
    }
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
