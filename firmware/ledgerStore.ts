/**
 * Makes the terminal's ledger durable: an append-only JSONL log of ops plus a snapshot.
 *
 * Group commit: ops applied while a write is in flight are written and synced together, so a
 * burst of commands costs one fdatasync, not one per command. `apply()` resolves only once the op
 * is on disk; a terminal replies to the gateway after that, never before.
 *
 * Every log line carries the ledger seq the op produced; replay skips lines the snapshot already
 * holds, so a crash between writing a snapshot and truncating the log cannot apply an op twice.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Ledger, type LedgerOp, type LedgerResult, type LedgerSnapshot } from './ledger.ts';

export interface LedgerStoreOptions {
  dir: string;
  /** fdatasync after each group (survives power loss) or only write (survives a process crash). */
  sync?: boolean;
  /**
   * Compact the log into a snapshot after this many lines, or after as many lines as the snapshot
   * holds transactions if that is more (so the cost of compacting stays proportional to the ops).
   */
  compactEvery?: number;
  /** Tombstones older than this are dropped at compaction. */
  tombstoneMaxAgeMs?: number;
}

export interface RecoveryReport {
  snapshotSeq: number;
  replayed: number;
  /** A torn last line (a crash mid-write) is skipped; anything else corrupt is an error. */
  tornTail: boolean;
}

type LogLine = LedgerOp & { s: number };

export class LedgerStore {
  readonly ledger: Ledger;
  readonly recovery: RecoveryReport;
  private readonly opts: Required<LedgerStoreOptions>;
  private log: FileHandle | null = null;
  private logLines = 0;
  private queue: { line: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  private constructor(
    opts: Required<LedgerStoreOptions>,
    ledger: Ledger,
    recovery: RecoveryReport,
    logLines: number,
  ) {
    this.opts = opts;
    this.ledger = ledger;
    this.recovery = recovery;
    this.logLines = logLines;
  }

  /** Opens (or creates) the store in `dir` and recovers the ledger from it. */
  static async open(options: LedgerStoreOptions): Promise<LedgerStore> {
    const opts: Required<LedgerStoreOptions> = {
      sync: true,
      compactEvery: 5000,
      tombstoneMaxAgeMs: 3_600_000,
      ...options,
    };
    mkdirSync(opts.dir, { recursive: true });
    const { ledger, recovery } = recover(opts.dir);
    const store = new LedgerStore(opts, ledger, recovery, 0);
    // Start every run from a fresh snapshot and an empty log: recovery cost stays bounded.
    store.writeSnapshot(Date.now());
    // Append mode: after compaction truncates the log, writes must land at offset 0 again, not at
    // the old offset (which would leave a run of NUL bytes that recovery reads as corruption).
    store.log = await open(join(opts.dir, 'ledger.jsonl'), 'a');
    await store.log.truncate(0);
    return store;
  }

  /** True when the store has never held any stock (a brand-new terminal). */
  get isEmpty(): boolean {
    return this.ledger.seq === 0;
  }

  /** Applies an op to the ledger and resolves once it is durable (if it changed anything). */
  async apply(op: LedgerOp): Promise<LedgerResult> {
    if (this.closed) throw new Error('ledger store is closed');
    const result = this.ledger.apply(op);
    if (!result.changed) {
      // Nothing to persist, but an idempotent answer must not overtake the durable write of the
      // original: wait for whatever is in flight.
      await this.drain();
      return result;
    }
    const line = `${JSON.stringify({ ...op, s: this.ledger.seq } satisfies LogLine)}\n`;
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.scheduleFlush();
    });
    return result;
  }

  /** Resolves when everything applied so far is durable. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) this.scheduleFlush();
      await this.flushing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.log?.close();
    this.log = null;
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        const log = this.log;
        if (!log) throw new Error('ledger store is closed');
        await log.write(batch.map((b) => b.line).join(''));
        if (this.opts.sync) await log.datasync();
        this.logLines += batch.length;
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err as Error);
      }
      const due = Math.max(this.opts.compactEvery, this.ledger.txCount);
      if (this.logLines >= due && this.queue.length === 0) await this.compact();
    }
  }

  /**
   * Writes a snapshot and empties the log, off the event loop but for the JSON: a terminal host
   * serves its commands meanwhile (their ops queue and go to the emptied log after, and replay
   * skips any line the snapshot already holds, so a crash at any point loses nothing).
   */
  private async compact(): Promise<void> {
    this.ledger.collect(Date.now(), this.opts.tombstoneMaxAgeMs);
    const json = this.ledger.snapshotJson();
    const path = join(this.opts.dir, 'snapshot.json');
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(json);
      if (this.opts.sync) await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    // The rename must be on disk before the log it replaces is emptied.
    if (this.opts.sync) {
      const dir = await open(this.opts.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
    await this.log?.truncate(0);
    if (this.opts.sync) await this.log?.datasync();
    this.logLines = 0;
  }

  private writeSnapshot(now: number): void {
    this.ledger.collect(now, this.opts.tombstoneMaxAgeMs);
    const path = join(this.opts.dir, 'snapshot.json');
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, this.ledger.snapshotJson());
      if (this.opts.sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }
}

function recover(dir: string): { ledger: Ledger; recovery: RecoveryReport } {
  const snapPath = join(dir, 'snapshot.json');
  let ledger = new Ledger();
  if (existsSync(snapPath)) {
    try {
      ledger = Ledger.fromSnapshot(JSON.parse(readFileSync(snapPath, 'utf8')) as LedgerSnapshot);
    } catch (err) {
      throw new Error(`ledger snapshot ${snapPath} is corrupt: ${(err as Error).message}`);
    }
  }
  const recovery: RecoveryReport = { snapshotSeq: ledger.seq, replayed: 0, tornTail: false };
  const logPath = join(dir, 'ledger.jsonl');
  if (!existsSync(logPath)) return { ledger, recovery };
  const lines = readFileSync(logPath, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (text === '') continue;
    let entry: LogLine;
    try {
      entry = JSON.parse(text) as LogLine;
    } catch {
      // Only the very last line may be torn by a crash mid-append.
      if (lines.slice(i + 1).every((l) => l === '')) {
        recovery.tornTail = true;
        break;
      }
      throw new Error(`ledger log ${logPath} line ${i + 1} is corrupt`);
    }
    if (entry.s <= ledger.seq) continue;
    const { s, ...op } = entry;
    ledger.apply(op as LedgerOp);
    if (ledger.seq !== s)
      throw new Error(`ledger log ${logPath} line ${i + 1}: replay reached seq ${ledger.seq}, log says ${s}`);
    recovery.replayed++;
  }
  return { ledger, recovery };
}
