/**
 * The map side of the analysis: turns the journal's records, streamed in append order, into
 * order-level and transaction-level events (an order ended with its latencies, a transaction was
 * decided with its participants, stock moved). It keeps only what is in flight: open orders and
 * open transactions, dropped as soon as they end, so memory follows the number of orders in flight,
 * not the size of the journal. The reducers (reducers.ts) fold the events into figures.
 */
import { isFinal, ORDER_STATES, type OrderState, successors } from '../protocol/index.ts';
import { type Alloc, type Decision, type Line, orderKey, type Rec } from './journalRecord.ts';

export interface OpenOrder {
  cid: string;
  orderId: string;
  state: OrderState;
  acceptedAt: number;
  confirmedAt?: number;
  lines: Line[];
  allocation?: Alloc[];
  /** The seqs of the order's records so far (its trace, fetched later for the few shown). */
  seqs: number[];
}

export type MappedEvent =
  | { kind: 'accepted'; at: number; order: OpenOrder }
  | { kind: 'confirmed'; at: number; order: OpenOrder }
  | { kind: 'ended'; at: number; order: OpenOrder; state: FinalState; reason?: string }
  | {
      kind: 'decided';
      at: number;
      tx: string;
      terminals: string[];
      decision: Decision;
      /** from the tx record (prepare sent) to the decision */
      prepareMs: number | null;
    }
  /** A transaction left at the end of the journal: no decision, or not acknowledged by all. */
  | { kind: 'txLeft'; tx: string; terminals: string[]; decided: boolean }
  /** Committed (sign +1) or released (sign -1) stock, per allocation entry. */
  | { kind: 'committed'; at: number; allocation: Alloc[]; sign: 1 | -1 }
  | { kind: 'picked'; at: number; terminal: string; sku: string; qty: number }
  | {
      kind: 'terminalEvent';
      at: number;
      terminal: string;
      sku: string;
      qty: number;
      event: 'restock' | 'count';
    }
  /** Something the journal should not hold; reported, not fatal. */
  | { kind: 'anomaly'; name: string; seq: number; detail: string }
  /** The first record's time (once). */
  | { kind: 'begin'; at: number }
  /** Orders still open at the end. */
  | { kind: 'unfinished'; order: OpenOrder };

type FinalState = 'fulfilled' | 'rejected' | 'failed' | 'cancelled';

interface OpenTx {
  at: number;
  allocation: Alloc[];
  terminals: string[];
  decision?: Decision;
  /** the order's trace (shared with it: a tx_done after the order ended still lands there) */
  seqs: number[];
}

/** `from>to` for every transition of the state machine. */
const TRANSITIONS = new Set(ORDER_STATES.flatMap((from) => successors(from).map((to) => `${from}>${to}`)));

const terminalsOf = (allocation: readonly Alloc[]) => [...new Set(allocation.map((a) => a.terminal))];

export class JournalMapper {
  private readonly open = new Map<string, OpenOrder>();
  private readonly txs = new Map<string, OpenTx>();
  private begun = false;

  constructor(private readonly emit: (e: MappedEvent) => void) {}

  get openOrders(): number {
    return this.open.size;
  }

  step(seq: number, r: Rec): void {
    if (!this.begun) {
      this.begun = true;
      this.emit({ kind: 'begin', at: r.at });
    }
    switch (r.type) {
      case 'accepted': {
        const key = orderKey(r.cid, r.orderId);
        const existing = this.open.get(key);
        if (existing) {
          existing.seqs.push(seq);
          this.anomaly('duplicate accepted record', seq, key);
          return;
        }
        const order: OpenOrder = {
          cid: r.cid,
          orderId: r.orderId,
          state: 'accepted',
          acceptedAt: r.at,
          lines: r.lines,
          seqs: [seq],
        };
        this.open.set(key, order);
        this.emit({ kind: 'accepted', at: r.at, order });
        return;
      }
      case 'state': {
        const key = orderKey(r.cid, r.orderId);
        const order = this.open.get(key);
        if (!order) {
          this.anomaly('state record for an order that is not open', seq, `${key} -> ${r.state}`);
          return;
        }
        order.seqs.push(seq);
        if (!TRANSITIONS.has(`${order.state}>${r.state}`))
          this.anomaly('transition outside the state machine', seq, `${key}: ${order.state} -> ${r.state}`);
        order.state = r.state;
        if (r.allocation) order.allocation = r.allocation;
        if (r.state === 'confirmed') {
          order.confirmedAt = r.at;
          this.emit({ kind: 'confirmed', at: r.at, order });
        } else if (isFinal(r.state)) {
          this.open.delete(key);
          this.emit({
            kind: 'ended',
            at: r.at,
            order,
            state: r.state as FinalState,
            ...(r.reason !== undefined ? { reason: r.reason } : {}),
          });
        }
        return;
      }
      case 'tx': {
        const seqs = this.open.get(orderKey(r.cid, r.orderId))?.seqs ?? [];
        seqs.push(seq);
        if (this.txs.has(r.tx)) {
          this.anomaly('transaction begun twice', seq, r.tx);
          return;
        }
        this.txs.set(r.tx, {
          at: r.at,
          allocation: r.allocation,
          terminals: terminalsOf(r.allocation),
          seqs,
        });
        return;
      }
      case 'decision': {
        let t = this.txs.get(r.tx);
        const order = this.open.get(orderKey(r.cid, r.orderId));
        order?.seqs.push(seq);
        if (r.decision === 'release') {
          // A release follows a commit whose transaction may be closed already: the order knows
          // its allocation.
          const allocation = order?.allocation ?? (t?.decision === 'commit' ? t.allocation : undefined);
          if (!allocation) {
            this.anomaly('release of an order with no known allocation', seq, `${r.tx}`);
            return;
          }
          t = { at: r.at, allocation, terminals: terminalsOf(allocation), seqs: order?.seqs ?? [] };
          this.txs.set(r.tx, t);
        } else if (!t) {
          this.anomaly('decision for an unknown transaction', seq, `${r.tx} ${r.decision}`);
          return;
        } else if (t.decision) {
          this.anomaly('transaction decided twice', seq, `${r.tx}: ${t.decision} then ${r.decision}`);
          return;
        }
        t.decision = r.decision;
        this.emit({
          kind: 'decided',
          at: r.at,
          tx: r.tx,
          terminals: t.terminals,
          decision: r.decision,
          prepareMs: r.decision === 'release' ? null : r.at - t.at,
        });
        if (r.decision === 'commit')
          this.emit({ kind: 'committed', at: r.at, allocation: t.allocation, sign: 1 });
        else if (r.decision === 'release')
          this.emit({ kind: 'committed', at: r.at, allocation: t.allocation, sign: -1 });
        return;
      }
      case 'tx_done': {
        const t = this.txs.get(r.tx);
        if (!t) return;
        t.seqs.push(seq);
        this.txs.delete(r.tx);
        return;
      }
      case 'picked':
        this.open.get(orderKey(r.cid, r.orderId))?.seqs.push(seq);
        this.emit({ kind: 'picked', at: r.at, terminal: r.terminal, sku: r.sku, qty: r.qty });
        return;
      case 'terminal_event':
        this.emit({
          kind: 'terminalEvent',
          at: r.at,
          terminal: r.terminal,
          sku: r.sku,
          qty: r.qty,
          event: r.kind,
        });
        return;
    }
  }

  /** The end of the journal: what is still open. */
  finish(): void {
    for (const [tx, t] of this.txs)
      this.emit({ kind: 'txLeft', tx, terminals: t.terminals, decided: t.decision !== undefined });
    for (const order of this.open.values()) this.emit({ kind: 'unfinished', order });
  }

  private anomaly(name: string, seq: number, detail: string): void {
    this.emit({ kind: 'anomaly', name, seq, detail });
  }
}
