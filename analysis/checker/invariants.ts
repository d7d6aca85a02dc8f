/**
 * The invariants of ../shared/DESIGN.md as pure functions over a run: the history (what clients
 * saw, what the nemesis did, the final reads of every terminal) and the gateway's journal. Each
 * returns its verdict with counterexamples that name the order, terminal, SKU and message.
 */
import { FINAL_STATES, isValidObservation, type OrderState } from '../../protocol/index.ts';
import type { FinalRead, HistoryLine, Observe } from '../history.ts';
import type { InvariantName, InvariantResult, Violation } from './verdict.ts';

/** A journal record as the checker needs it (the gateway's JournalRecord, loosely typed). */
export interface JournalEntry {
  type: string;
  cid?: string;
  orderId?: string;
  state?: string;
  tx?: string;
  [key: string]: unknown;
}

export interface CheckInput {
  history: readonly HistoryLine[];
  journal: readonly JournalEntry[];
}

const MAX_VIOLATIONS = 50;
const COMMITTED = new Set(['committed', 'picked', 'released']);

function result(invariant: InvariantName, checked: number, violations: Violation[]): InvariantResult {
  return { invariant, ok: violations.length === 0, checked, violations: violations.slice(0, MAX_VIOLATIONS) };
}

export function finalRead(history: readonly HistoryLine[]): FinalRead | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const line = history[i]!;
    if (line.type === 'final') return line as FinalRead;
  }
  return undefined;
}

/** 1. available >= 0 (and no negative field) at every terminal, in every observed inventory. */
export function noOversell(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const violations: Violation[] = [];
  let checked = 0;
  for (const [terminal, t] of Object.entries(final?.terminals ?? {})) {
    checked += t.observedCount ?? 0;
    for (const inv of [...(t.observed ?? []), t.inventory]) {
      for (const [sku, item] of Object.entries(inv.items)) {
        checked++;
        const available = item.onHand - item.reserved - item.committed;
        if (available < 0 || item.onHand < 0 || item.reserved < 0 || item.committed < 0) {
          violations.push({
            message: `terminal ${terminal} sku ${sku} at seq ${inv.seq}: onHand ${item.onHand}, reserved ${item.reserved}, committed ${item.committed} (available ${available})`,
            terminal,
            sku,
            evidence: [inv],
          });
        }
      }
    }
  }
  return result('no-oversell', checked, violations);
}

/** 2. Every order that reached `accepted` ends in exactly one final state. */
export function noLostOrder(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const violations: Violation[] = [];
  const finals = new Map<string, string[]>();
  const accepted = new Set<string>();
  for (const r of input.journal) {
    const key = `${r.cid}/${r.orderId}`;
    if (r.type === 'accepted') accepted.add(key);
    if (r.type === 'state' && FINAL_STATES.has(r.state as OrderState))
      finals.set(key, [...(finals.get(key) ?? []), r.state!]);
  }
  for (const key of accepted) {
    const f = finals.get(key) ?? [];
    const [cid, orderId] = splitKey(key);
    if (f.length === 0)
      violations.push({ message: `order ${key} was accepted and never reached a final state`, cid, orderId });
    else if (f.length > 1)
      violations.push({
        message: `order ${key} reached ${f.length} final states: ${f.join(', ')}`,
        cid,
        orderId,
      });
  }
  // What a client was told was accepted must be in the journal.
  const seen = new Set<string>();
  for (const line of input.history) {
    if (line.type !== 'observe') continue;
    const o = line as Observe;
    const key = `${cidOf(o.process)}/${o.orderId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!accepted.has(key)) {
      violations.push({
        message: `client ${o.process} saw order ${o.orderId} ${o.state}, but the journal never accepted it`,
        cid: cidOf(o.process),
        orderId: o.orderId,
        evidence: [o],
      });
    }
  }
  for (const [key, o] of Object.entries(final?.orders ?? {})) {
    if (!FINAL_STATES.has(o.state)) {
      const [cid, orderId] = splitKey(key);
      violations.push({ message: `order ${key} is still ${o.state} after quiescence`, cid, orderId });
    }
  }
  return result('no-lost-order', accepted.size + seen.size, violations);
}

/** 3. At most one committed transaction per order, committing exactly the allocated lines. */
export function exactlyOnce(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const violations: Violation[] = [];
  if (!final) return result('exactly-once', 0, [{ message: 'the history has no final read' }]);
  // What each transaction allocated, from the journal (the order row has it only once confirmed).
  const txAllocation = new Map<string, { terminal: string; sku: string; qty: number }[]>();
  for (const r of input.journal) {
    if (r.type === 'tx' && r.tx && Array.isArray(r.allocation))
      txAllocation.set(r.tx, r.allocation as { terminal: string; sku: string; qty: number }[]);
  }
  const committedTxs = new Map<string, Set<string>>();
  let checked = 0;
  for (const [terminal, t] of Object.entries(final.terminals)) {
    for (const [tx, rec] of Object.entries(t.txs)) {
      if (!COMMITTED.has(rec.status)) continue;
      checked++;
      const order = final.txOrders[tx];
      if (!order) {
        violations.push({
          message: `terminal ${terminal} committed tx ${tx}, which no order of the journal owns`,
          terminal,
          tx,
        });
        continue;
      }
      committedTxs.set(order, (committedTxs.get(order) ?? new Set()).add(tx));
      const allocation = txAllocation.get(tx) ?? final.orders[order]?.allocation ?? [];
      // Per SKU: what the terminal committed in this tx against what was allocated to it.
      const committed = new Map<string, number>();
      for (const line of rec.lines) committed.set(line.sku, (committed.get(line.sku) ?? 0) + line.qty);
      const allocatedHere = new Map<string, number>();
      for (const a of allocation)
        if (a.terminal === terminal) allocatedHere.set(a.sku, (allocatedHere.get(a.sku) ?? 0) + a.qty);
      for (const sku of new Set([...committed.keys(), ...allocatedHere.keys()])) {
        const c = committed.get(sku) ?? 0;
        const allocated = allocatedHere.get(sku) ?? 0;
        if (c !== allocated) {
          const [cid, orderId] = splitKey(order);
          violations.push({
            message: `order ${order}: terminal ${terminal} committed ${c} x ${sku} in tx ${tx}, the allocation says ${allocated}`,
            cid,
            orderId,
            terminal,
            sku,
            tx,
          });
        }
      }
    }
  }
  for (const [order, txs] of committedTxs) {
    if (txs.size > 1) {
      const [cid, orderId] = splitKey(order);
      violations.push({
        message: `order ${order} was committed by ${txs.size} transactions: ${[...txs].join(', ')}`,
        cid,
        orderId,
      });
    }
  }
  return result('exactly-once', checked, violations);
}

/** 4. An order is committed on all its allocated terminals or on none. */
export function atomicity(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const violations: Violation[] = [];
  if (!final) return result('atomicity', 0, [{ message: 'the history has no final read' }]);
  let checked = 0;
  for (const [key, o] of Object.entries(final.orders)) {
    const [cid, orderId] = splitKey(key);
    checked++;
    const wasCommitted =
      o.state === 'confirmed' ||
      o.state === 'fulfilled' ||
      (o.state === 'cancelled' && o.tx !== undefined && o.allocation !== undefined);
    const terminalsWithTx = Object.entries(final.terminals).filter(
      ([, t]) => o.tx && COMMITTED.has(t.txs[o.tx]?.status ?? ''),
    );
    if (wasCommitted && o.tx) {
      for (const terminal of new Set((o.allocation ?? []).map((a) => a.terminal))) {
        const status = final.terminals[terminal]?.txs[o.tx]?.status;
        if (!status || !COMMITTED.has(status)) {
          violations.push({
            message: `order ${key} is ${o.state} with tx ${o.tx}, but terminal ${terminal} has it ${status ?? 'unknown'}`,
            cid,
            orderId,
            terminal,
            tx: o.tx,
          });
        }
      }
    } else if (!wasCommitted && terminalsWithTx.length > 0) {
      violations.push({
        message: `order ${key} is ${o.state}, yet terminals ${terminalsWithTx.map(([t]) => t).join(', ')} committed it`,
        cid,
        orderId,
      });
    }
  }
  // No transaction the journal decided to abort was committed anywhere.
  const aborted = new Set(
    input.journal.filter((r) => r.type === 'decision' && r.decision === 'abort').map((r) => r.tx!),
  );
  for (const [terminal, t] of Object.entries(final.terminals)) {
    for (const [tx, rec] of Object.entries(t.txs)) {
      if (aborted.has(tx) && COMMITTED.has(rec.status)) {
        violations.push({
          message: `tx ${tx} was decided abort, but terminal ${terminal} has it ${rec.status}`,
          terminal,
          tx,
        });
      }
    }
  }
  return result('atomicity', checked, violations);
}

/** A record's own entry: a SKU may be named like a member of Object.prototype ("constructor"). */
function own<T>(r: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(r, key) ? r[key] : undefined;
}

/** 5. Conservation per SKU and terminal, and nothing left reserved once quiet. */
export function conservation(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const violations: Violation[] = [];
  if (!final) return result('conservation', 0, [{ message: 'the history has no final read' }]);
  let checked = 0;
  for (const [terminal, t] of Object.entries(final.terminals)) {
    const committedBy = new Map<string, number>();
    for (const rec of Object.values(t.txs)) {
      if (rec.status !== 'committed') continue;
      for (const l of rec.lines) committedBy.set(l.sku, (committedBy.get(l.sku) ?? 0) + l.qty);
    }
    const skus = new Set([...Object.keys(t.inventory.items), ...Object.keys(t.initial)]);
    for (const sku of skus) {
      checked++;
      const item = own(t.inventory.items, sku) ?? { onHand: 0, reserved: 0, committed: 0 };
      const [initial, restocked, picked, counted] = [t.initial, t.restocked, t.picked, t.counted].map(
        (r) => own(r, sku) ?? 0,
      ) as [number, number, number, number];
      const expected = initial + restocked - picked + counted;
      const at = { terminal, sku };
      if (item.onHand !== expected) {
        violations.push({
          ...at,
          message: `terminal ${terminal} sku ${sku}: onHand ${item.onHand}, expected initial ${initial} + restocked ${restocked} - picked ${picked} + counted ${counted} = ${expected}`,
        });
      }
      if (item.reserved !== 0)
        violations.push({
          ...at,
          message: `terminal ${terminal} sku ${sku}: ${item.reserved} still reserved once quiet`,
        });
      const c = committedBy.get(sku) ?? 0;
      if (item.committed !== c) {
        violations.push({
          ...at,
          message: `terminal ${terminal} sku ${sku}: committed ${item.committed}, but its committed transactions hold ${c}`,
        });
      }
    }
    // Committed and unpicked at the terminal <=> a confirmed order in the journal.
    for (const [tx, rec] of Object.entries(t.txs)) {
      if (rec.status !== 'committed') continue;
      const order = final.txOrders[tx];
      const state = order ? final.orders[order]?.state : undefined;
      if (state !== 'confirmed') {
        violations.push({
          terminal,
          tx,
          message: `terminal ${terminal} holds tx ${tx} committed (unpicked), but its order ${order ?? '?'} is ${state ?? 'unknown'}`,
        });
      }
    }
  }
  return result('conservation', checked, violations);
}

/**
 * 6. Every status sequence a client saw is a path of the state machine, as seen through a lossy
 * channel (a subsequence of a path: statuses sent while a client was away are lost).
 */
export function validStatusSequences(input: CheckInput): InvariantResult {
  const seqs = new Map<string, Observe[]>();
  for (const line of input.history) {
    if (line.type !== 'observe') continue;
    const o = line as Observe;
    const key = `${o.process}/${o.orderId}`;
    seqs.set(key, [...(seqs.get(key) ?? []), o]);
  }
  const violations: Violation[] = [];
  for (const [, obs] of seqs) {
    const path = isValidObservation(obs.map((o) => o.state));
    if (!path.ok) {
      const o = obs[0]!;
      violations.push({
        message: `${o.process} saw order ${o.orderId} go ${obs.map((x) => x.state).join(' -> ')}: ${path.error}`,
        cid: cidOf(o.process),
        orderId: o.orderId,
        evidence: obs,
      });
    }
  }
  return result('valid-status-sequences', seqs.size, violations);
}

/**
 * 7. The gateway's statistics agree with its journal: the orders that entered each state since the
 * statistics began (the last gateway start) are the journal's transitions since then.
 */
export function statisticsAgree(input: CheckInput): InvariantResult {
  const final = finalRead(input.history);
  const stats = final?.stats;
  if (!final || !stats) {
    return {
      invariant: 'statistics-agree',
      ok: true,
      checked: 0,
      violations: [],
      skipped: 'the run recorded no statistics',
    };
  }
  const since = final.statsSince ?? 0;
  const journalCounts = new Map<string, number>();
  for (const r of input.journal) {
    const at = typeof r.at === 'number' ? r.at : 0;
    if (at < since) continue;
    const state = r.type === 'accepted' ? 'accepted' : r.type === 'state' ? r.state : undefined;
    if (state) journalCounts.set(state, (journalCounts.get(state) ?? 0) + 1);
  }
  const violations: Violation[] = [];
  const states = new Set([...journalCounts.keys(), ...Object.keys(stats)]);
  for (const state of states) {
    const j = journalCounts.get(state) ?? 0;
    const s = stats[state] ?? 0;
    if (j !== s)
      violations.push({
        message: `statistics count ${s} orders entering ${state} since ${new Date(since).toISOString()}, the journal ${j}`,
      });
  }
  return result('statistics-agree', states.size, violations);
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** A history process is `<cid>#<connection>`. */
function cidOf(process: string): string {
  const i = process.indexOf('#');
  return i < 0 ? process : process.slice(0, i);
}
