/**
 * The analysis: one streaming pass over the journal (map: mapper.ts, reduce: reducers.ts), the
 * history read line by line beside it, then the traces of the few orders worth showing. Produces
 * the `Figures` the report renders (report.ts) and writes as JSON.
 *
 * With a history (a chaos run) it also runs the invariant checker (analysis/checker), whose input
 * is the whole history and journal as arrays: only then are the records kept in memory.
 */
import { readFileSync } from 'node:fs';
import { check, type JournalEntry } from './checker/index.ts';
import { INVARIANTS, type Verdict } from './checker/verdict.ts';
import { InputError } from './errors.ts';
import type { Figures, TracedOrder } from './figures.ts';
import type { HistoryLine } from './history.ts';
import { HistoryReducer } from './historyReducer.ts';
import { readHistory } from './historySource.ts';
import { JournalSource } from './journalSource.ts';
import { JournalMapper, type MappedEvent } from './mapper.ts';
import {
  AnomalyReducer,
  LatencyReducer,
  type OrderRef,
  OrdersReducer,
  type Reducer,
  SalesReducer,
  SlowestReducer,
  StockReducer,
  TerminalsReducer,
  ThroughputReducer,
} from './reducers.ts';

export interface AnalyzeOptions {
  /** the journal file (<data>/journal.sqlite) */
  journal: string;
  /** a chaos-run history (JSONL) */
  history?: string;
  /** the invariant checker's verdict, and where it came from (given: the checker does not run) */
  verdict?: { verdict: Verdict; source: string };
  /** run the invariant checker (default: when a history is given and no verdict) */
  check?: boolean;
  /** an abort whose prepare phase lasted this long counts as a timeout (the gateway's command timeout) */
  timeoutMs?: number;
  /** how many of the slowest (and of the oldest unfinished) orders to trace */
  slowest?: number;
  /** robust z-score from which a terminal stands out */
  zThreshold?: number;
  /** called every 64k records and at the end */
  onProgress?: (seq: number, maxSeq: number) => void;
}

export const CLIENT_PHASE = 'client place→ok/fail (history)';
export const CHECKER_SOURCE = 'the invariant checker (analysis/checker), run on this journal and history';

export async function analyze(o: AnalyzeOptions): Promise<Figures> {
  const latency = new LatencyReducer();

  // The history first: the stock baseline (initial) comes from its final record.
  let hist: HistoryReducer | null = null;
  let histRead: Awaited<ReturnType<typeof readHistory>> | null = null;
  const checking = o.history !== undefined && !o.verdict && o.check !== false;
  const historyLines: HistoryLine[] = [];
  const journalEntries: JournalEntry[] = [];
  if (o.history) {
    hist = new HistoryReducer((ms) => latency.record(CLIENT_PHASE, ms));
    const h = hist;
    histRead = await readHistory(o.history, (line) => {
      h.visit(line);
      if (checking) historyLines.push(line);
    });
    hist.finish();
  }

  const journal = new JournalSource(o.journal);
  try {
    const orders = new OrdersReducer();
    const throughput = new ThroughputReducer();
    const terminals = new TerminalsReducer(o.timeoutMs ?? 1000, o.zThreshold ?? 3.5);
    const sales = new SalesReducer();
    const observed = hist?.hasObservedSeries() ?? false;
    const stock = observed ? null : new StockReducer(hist?.initialStock());
    const slowest = new SlowestReducer(o.slowest ?? 10);
    const anomalies = new AnomalyReducer();
    const reducers: Reducer[] = [orders, throughput, latency, terminals, sales, slowest, anomalies];
    if (stock) reducers.push(stock);

    let firstAt: number | null = null;
    let lastAt: number | null = null;
    const emit = (e: MappedEvent) => {
      for (const r of reducers) r.add(e);
    };
    const mapper = new JournalMapper(emit);
    const maxSeq = journal.maxSeq();
    let n = 0;
    for (const { seq, rec } of journal.records()) {
      if (firstAt === null || rec.at < firstAt) firstAt = rec.at;
      if (lastAt === null || rec.at > lastAt) lastAt = rec.at;
      mapper.step(seq, rec);
      if (checking) journalEntries.push(rec);
      if ((++n & 0xffff) === 0) o.onProgress?.(seq, maxSeq);
    }
    mapper.finish();
    o.onProgress?.(maxSeq, maxSeq);

    if (latency.negative > 0)
      anomalies.note(
        'negative latency (clamped to 0)',
        0,
        'a later record has an earlier at',
        latency.negative,
      );
    if (hist && hist.unmatchedStops > 0)
      anomalies.note('nemesis stop with no matching start', 0, 'in the history', hist.unmatchedStops);

    // The traces of the few orders shown: their records, fetched by seq.
    const slow = slowest.slowest.list();
    const old = slowest.unfinished.list();
    const traced = ({ seqs, ...r }: OrderRef): TracedOrder => ({ ...r, trace: journal.recordsAt(seqs) });

    let verdict = o.verdict ?? null;
    let checkerError: string | null = null;
    if (checking) {
      try {
        verdict = {
          verdict: check({ history: historyLines, journal: journalEntries }),
          source: CHECKER_SOURCE,
        };
      } catch (err) {
        checkerError = (err as Error).message;
      }
      historyLines.length = 0;
      journalEntries.length = 0;
    }

    const stockNotes: string[] = [];
    if (stock) {
      stockNotes.push(
        "From the journal: available = on hand - committed, summed over the terminal's SKUs (reservations of prepared transactions are not journaled).",
      );
      if (!stock.hasInitial)
        stockNotes.push(
          'No initial stock known (no history with a final record): levels are relative to the start of the journal.',
        );
      if (stock.countsNotApplied > 0)
        stockNotes.push(
          `${stock.countsNotApplied} count events not applied: a count sets on-hand, meaningless without the initial stock.`,
        );
    } else
      stockNotes.push(
        "Available = on hand - reserved - committed, summed over the terminal's SKUs, at each inventory it published (x = its inventory seq); × marks an inventory with a SKU below zero.",
      );

    return {
      generatedAt: new Date().toISOString(),
      inputs: { journal: o.journal, history: o.history ?? null, verdict: verdict?.source ?? null },
      journal: {
        records: journal.read,
        skipped: journal.skipped.count,
        skippedByReason: journal.skipped.byReason,
        skippedSamples: journal.skipped.samples,
        firstAt,
        lastAt,
      },
      history:
        hist && histRead
          ? {
              lines: histRead.lines,
              truncatedLine: histRead.truncated?.line ?? null,
              meta: hist.meta
                ? {
                    seed: hist.meta.seed,
                    faults: hist.meta.faults,
                    terminals: hist.meta.terminals,
                    clients: hist.meta.clients,
                    durationMs: hist.meta.durationMs,
                  }
                : null,
              clientOps: { ...hist.clientOps },
            }
          : null,
      orders: orders.result(),
      throughput: throughput.result(),
      latency: latency.result(),
      terminals: terminals.result(),
      sales: sales.result(),
      stock: stock
        ? {
            source: stock.hasInitial ? 'journal-with-initial' : 'journal-relative',
            x: 'time',
            binMs: stock.bins.width,
            points: stock.points(),
            notes: stockNotes,
            observed: hist?.observedSummary() ?? [],
          }
        : {
            source: 'history-observed',
            x: 'seq',
            binMs: null,
            points: hist!.observedPoints(),
            notes: stockNotes,
            observed: hist!.observedSummary(),
          },
      faults: hist?.faults ?? [],
      slowest: slow.map(traced),
      unfinished: { count: slowest.unfinishedCount, oldest: old.map(traced) },
      anomalies: anomalies.result(),
      verdict: verdict?.verdict ?? null,
      checkerError,
    };
  } finally {
    journal.close();
  }
}

/** Reads a verdict written as JSON (the checker's output), checking its shape. */
export function loadVerdict(file: string): Verdict {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(
      e.code === 'ENOENT' ? `verdict ${file} does not exist` : `verdict ${file} is not JSON: ${e.message}`,
    );
  }
  const bad = (why: string) => new InputError(`verdict ${file} is not a verdict: ${why}`);
  if (!json || typeof json !== 'object') throw bad('not an object');
  const v = json as { ok?: unknown; results?: unknown };
  if (typeof v.ok !== 'boolean') throw bad('no boolean "ok"');
  if (!Array.isArray(v.results)) throw bad('no "results" array');
  v.results.forEach((r: unknown, i) => {
    const x = r as { invariant?: unknown; ok?: unknown; checked?: unknown; violations?: unknown } | null;
    if (!x || typeof x !== 'object') throw bad(`results[${i}] is not an object`);
    if (!(INVARIANTS as readonly unknown[]).includes(x.invariant))
      throw bad(`results[${i}].invariant is unknown`);
    if (typeof x.ok !== 'boolean' || typeof x.checked !== 'number' || !Array.isArray(x.violations))
      throw bad(`results[${i}] needs ok, checked and violations`);
    (x.violations as unknown[]).forEach((viol, j) => {
      if (!viol || typeof (viol as { message?: unknown }).message !== 'string')
        throw bad(`results[${i}].violations[${j}] has no message`);
    });
  });
  return json as Verdict;
}
