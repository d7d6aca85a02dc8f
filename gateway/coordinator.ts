/**
 * The two-phase commit coordinator, presumed abort. For each order: allocate, `prepare` at every
 * terminal involved, journal the decision, then `commit` (re-sent until every terminal answered)
 * or `abort` and try again elsewhere. After a restart it aborts what was undecided and re-drives
 * what was decided. Terminals that outlive a reservation's TTL ask for the decision; unknown
 * transactions are answered with abort.
 */

import { logger } from '../lib/log.ts';
import { mutation } from '../lib/mutations.ts';
import type { AllocationEntry, Inquiry, Reply, TerminalEvent } from '../protocol/index.ts';
import { allocate, byTerminal } from './allocation.ts';
import type { Breakers } from './breaker.ts';
import type { Bus } from './bus.ts';
import type { InventoryView } from './inventoryView.ts';
import type { Decision, Journal, JournalRecord, RecoveredState } from './journal/journal.ts';
import type { Order, Orders } from './orders.ts';
import { StoppedError, type TerminalLink } from './terminalLink.ts';

export interface CoordinatorOptions {
  /** Allocation attempts per order before it fails or is rejected. */
  maxAttempts: number;
  /** Sends of a prepare before the terminal counts as not answering. */
  prepareAttempts: number;
  /** TTL given to terminals for prepared reservations. */
  reservationTtlMs: number;
  /** How long an order waits for terminals that stock its SKUs to come (back) online. */
  unavailableWaitMs: number;
  /** Confirmed orders with picks missing for this long are checked with the terminals. */
  reconcileMs: number;
}

export const DEFAULT_COORDINATOR_OPTIONS: CoordinatorOptions = {
  maxAttempts: 3,
  prepareAttempts: 2,
  reservationTtlMs: 10_000,
  unavailableWaitMs: 5_000,
  reconcileMs: 5_000,
};

interface TxInfo {
  tx: string;
  order: Order | undefined;
  allocation: AllocationEntry[];
  decision: Decision | undefined;
  /** Every participant answered the decision. */
  done: boolean;
}

export class Coordinator {
  private readonly txs = new Map<string, TxInfo>();
  private readonly log = logger('coordinator');
  private reconcileTimer: NodeJS.Timeout | null = null;
  private nextChange: Promise<void> | null = null;
  private stopped = false;
  private txCounter = 0;
  private readonly txEpoch = Date.now().toString(36);
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly orders: Orders,
    private readonly journal: Journal,
    private readonly view: InventoryView,
    private readonly link: TerminalLink,
    private readonly bus: Bus,
    private readonly breakers: Breakers,
    private readonly opts: CoordinatorOptions,
  ) {}

  start(): void {
    this.reconcileTimer = setInterval(() => this.reconcile(), this.opts.reconcileMs);
  }

  /** Stops driving; whatever is in flight resumes from the journal at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.reconcileTimer = null;
    this.link.stop();
    await Promise.allSettled([...this.running]);
  }

  /** Number of transactions not yet acknowledged by every participant. */
  get openTransactions(): number {
    let n = 0;
    for (const info of this.txs.values()) if (!info.done) n++;
    return n;
  }

  /** Starts driving a freshly accepted order. */
  drive(order: Order): void {
    this.spawn(() => this.run(order));
  }

  /** Resumes everything the journal says was in flight. */
  recover(state: RecoveredState): void {
    for (const row of state.openOrders) this.orders.restore(row);
    for (const p of state.picks) this.orders.get(p.cid, p.orderId)?.picks.add(`${p.terminal}/${p.sku}`);
    const resumed = new Set<Order>();
    for (const row of state.openTxs) {
      const order = this.orders.get(row.cid, row.orderId);
      const info: TxInfo = {
        tx: row.tx,
        order,
        allocation: row.allocation,
        decision: row.decision ?? 'abort',
        done: false,
      };
      this.txs.set(row.tx, info);
      if (!row.decision)
        this.record({
          type: 'decision',
          at: Date.now(),
          cid: row.cid,
          orderId: row.orderId,
          tx: row.tx,
          decision: 'abort',
        });
      if (order && info.decision === 'commit') {
        order.tx = row.tx;
        resumed.add(order);
        this.spawn(() => this.commit(order, info));
      } else if (order && info.decision === 'release') {
        order.tx = row.tx;
        order.cancelling = true;
        resumed.add(order);
        this.spawn(() => this.release(order, info));
      } else {
        this.spawn(() => this.abort(info));
      }
    }
    for (const order of this.orders.open()) {
      if (order.state === 'confirmed' && order.tx && !this.txs.has(order.tx)) {
        this.txs.set(order.tx, {
          tx: order.tx,
          order,
          allocation: order.allocation ?? [],
          decision: 'commit',
          done: true,
        });
      }
      if (resumed.has(order)) continue;
      if (order.state === 'accepted') this.drive(order);
      else if (order.state === 'confirmed') this.spawn(() => this.fulfilIfPicked(order));
    }
    this.log.info(
      { orders: state.openOrders.length, txs: state.openTxs.length, records: state.records },
      'recovered',
    );
  }

  /** A client asked to cancel. Returns an error message if it cannot be cancelled now. */
  cancel(order: Order): string | null {
    if (order.state === 'pending' || order.state === 'accepted') {
      // The driver sees the flag before deciding; once commit is decided, the stock is released after confirm.
      order.cancelRequested = true;
      return null;
    }
    if (order.state === 'confirmed') {
      if (order.picks.size > 0) return 'the order is already being picked';
      order.cancelRequested = true;
      if (!order.cancelling) this.startRelease(order);
      return null;
    }
    return order.state === 'cancelled' ? null : `the order is already ${order.state}`;
  }

  onInquiry(tid: string, inquiry: Inquiry): void {
    const info = this.txs.get(inquiry.tx);
    if (info && !info.decision) return; // still deciding: the decision will come
    const op = info?.decision ?? 'abort';
    this.log.info({ tid, tx: inquiry.tx, op }, 'answering inquiry');
    void this.link.request(tid, { op, tx: inquiry.tx }, 1).catch(() => undefined);
  }

  onPicked(tid: string, event: TerminalEvent): void {
    if (event.kind !== 'picked' || !event.tx || !event.sku) return;
    const order = this.txs.get(event.tx)?.order ?? this.findByTx(event.tx);
    if (!order || order.tx !== event.tx) return;
    this.spawn(() => this.registerPicks(order, tid, [{ sku: event.sku!, qty: event.qty ?? 0 }]));
  }

  private spawn(fn: () => Promise<void>): void {
    const p = fn()
      .catch((err: unknown) => {
        if (!(err instanceof StoppedError))
          this.log.error({ err: (err as Error).message }, 'coordinator task failed');
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private nextTx(): string {
    return `x${this.txEpoch}.${(++this.txCounter).toString(36)}`;
  }

  private record(r: JournalRecord): void {
    this.journal
      .append(r)
      .catch((err: Error) => this.log.error({ err: err.message, type: r.type }, 'journal append failed'));
  }

  private async run(order: Order): Promise<void> {
    let waitedSince = 0;
    while (!this.stopped) {
      if (order.cancelRequested) {
        await this.orders.move(order, 'cancel', { reason: 'cancelled_by_client' });
        return;
      }
      const skus = order.lines.map((l) => l.sku);
      const { candidates, elsewhere } = this.view.split(
        skus,
        (tid) => !order.refusedBy.has(tid) && !order.timedOutAt.has(tid) && this.breakers.allows(tid),
        this.journal.catalog(),
      );
      // Terminals that refused for want of stock do not count as "could have served it".
      for (const tid of order.refusedBy) (elsewhere as Map<string, unknown>).delete(tid);
      const result = allocate(order.lines, candidates, elsewhere);
      if (!result.ok) {
        if (result.reason === 'terminals_unavailable') {
          waitedSince ||= Date.now();
          const left = this.opts.unavailableWaitMs - (Date.now() - waitedSince);
          if (left > 0 && order.timedOutAt.size === 0) {
            await this.waitForTerminals(Math.min(left, 500));
            continue;
          }
        }
        await this.orders.move(order, result.reason === 'out_of_stock' ? 'reject' : 'fail', {
          reason: result.reason,
        });
        return;
      }
      waitedSince = 0;
      order.attempts++;
      const decided = await this.attempt(order, result.allocation);
      if (decided) return;
      if (order.attempts >= this.opts.maxAttempts) {
        const reason = order.timedOutAt.size > 0 ? 'terminals_unavailable' : 'out_of_stock';
        if (order.cancelRequested) await this.orders.move(order, 'cancel', { reason: 'cancelled_by_client' });
        else await this.orders.move(order, reason === 'out_of_stock' ? 'reject' : 'fail', { reason });
        return;
      }
    }
  }

  /** One transaction. Returns true once the order's fate is decided (committed), false to retry. */
  private async attempt(order: Order, allocation: AllocationEntry[]): Promise<boolean> {
    const tx = this.nextTx();
    order.tx = tx;
    const info: TxInfo = { tx, order, allocation, decision: undefined, done: false };
    this.txs.set(tx, info);
    const parts = [...byTerminal(allocation)];
    for (const [tid, lines] of parts) this.view.hold(tid, tx, lines);
    this.record({ type: 'tx', at: Date.now(), cid: order.cid, orderId: order.orderId, tx, allocation });

    const replies: (Reply | null)[] = mutation('commit-without-prepare')
      ? // Mutation: decide commit without asking anyone.
        parts.map(() => ({ id: '-', tx, op: 'prepare' as const, ok: true }))
      : await Promise.all(
          parts.map(([tid, lines]) =>
            this.link.request(
              tid,
              { op: 'prepare', tx, lines, ttlMs: this.opts.reservationTtlMs },
              this.opts.prepareAttempts,
            ),
          ),
        );
    parts.forEach(([tid], i) => {
      const reply = replies[i];
      // Any answer, yes or no, shows the terminal is alive; silence counts against its breaker.
      if (reply) this.breakers.success(tid);
      else this.breakers.failure(tid);
      if (reply?.ok) this.view.settle(tid, tx, reply.seq);
      else if (reply) this.view.settle(tid, tx); // refused: nothing was reserved
      // no reply: the terminal may hold a reservation; the hold stays until the abort is answered
    });

    if (replies.every((r) => r?.ok) && !order.cancelRequested) {
      info.decision = 'commit';
      await this.journal.append({
        type: 'decision',
        at: Date.now(),
        cid: order.cid,
        orderId: order.orderId,
        tx,
        decision: 'commit',
      });
      await this.commit(order, info);
      return true;
    }

    info.decision = 'abort';
    this.record({
      type: 'decision',
      at: Date.now(),
      cid: order.cid,
      orderId: order.orderId,
      tx,
      decision: 'abort',
    });
    this.spawn(() => this.abort(info));
    parts.forEach(([tid], i) => {
      const reply = replies[i];
      if (!reply) order.timedOutAt.add(tid);
      else if (!reply.ok) order.refusedBy.add(tid);
    });
    order.tx = undefined;
    return false;
  }

  private participants(info: TxInfo): string[] {
    return [...new Set(info.allocation.map((a) => a.terminal))];
  }

  /** A waiter for `tid` to come online, shared by every decision waiting on that terminal. */
  private readonly onlineWaiters = new Map<string, Promise<void>>();
  private waitOnline = (tid: string) => (): Promise<void> => {
    if (this.view.isOnline(tid)) return Promise.resolve();
    let waiter = this.onlineWaiters.get(tid);
    if (!waiter) {
      waiter = new Promise<void>((resolve) => {
        const on = (e: { tid: string; online: boolean }) => {
          if (e.tid !== tid || !e.online) return;
          this.bus.off('terminal', on);
          this.onlineWaiters.delete(tid);
          resolve();
        };
        this.bus.on('terminal', on);
      });
      this.onlineWaiters.set(tid, waiter);
    }
    return waiter;
  };

  /**
   * Resolves at the next change of any terminal (online/offline, inventory) or after `ms`. All
   * waiting orders share one listener pair, however many there are.
   */
  private waitForTerminals(ms: number): Promise<void> {
    if (!this.nextChange) {
      this.nextChange = new Promise<void>((resolve) => {
        const done = () => {
          this.bus.off('terminal', done);
          this.bus.off('inventory', done);
          this.nextChange = null;
          resolve();
        };
        this.bus.on('terminal', done);
        this.bus.on('inventory', done);
      });
    }
    const change = this.nextChange;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      void change.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async sendUntilAnswered(info: TxInfo, op: Decision): Promise<Map<string, Reply>> {
    const tids = this.participants(info);
    const replies = await Promise.all(
      tids.map((tid) => this.link.untilAnswered(tid, { op, tx: info.tx }, this.waitOnline(tid))),
    );
    return new Map(tids.map((tid, i) => [tid, replies[i]!]));
  }

  private async commit(order: Order, info: TxInfo): Promise<void> {
    const replies = await this.sendUntilAnswered(info, 'commit');
    for (const [tid, reply] of replies) {
      if (!reply.ok)
        this.log.error({ tid, tx: info.tx, code: reply.code }, 'terminal refused a decided commit');
    }
    if (order.state === 'accepted') {
      await this.orders.move(order, 'confirm', { allocation: info.allocation });
    }
    this.finishTx(info);
    // A pick may have been reported (or shown by a commit answered "picked") before the confirm.
    for (const [tid, reply] of replies)
      if (reply.code === 'picked') await this.registerPicks(order, tid, null);
    await this.fulfilIfPicked(order);
    if (order.cancelRequested && order.state === 'confirmed' && !order.cancelling) this.startRelease(order);
  }

  private async abort(info: TxInfo): Promise<void> {
    const replies = await this.sendUntilAnswered(info, 'abort');
    for (const [tid, reply] of replies) this.view.settle(tid, info.tx, reply.seq);
    this.finishTx(info);
  }

  private startRelease(order: Order): void {
    const tx = order.tx;
    if (!tx) return;
    order.cancelling = true;
    const info: TxInfo = { tx, order, allocation: order.allocation ?? [], decision: 'release', done: false };
    this.txs.set(tx, info);
    this.spawn(async () => {
      await this.journal.append({
        type: 'decision',
        at: Date.now(),
        cid: order.cid,
        orderId: order.orderId,
        tx,
        decision: 'release',
      });
      await this.release(order, info);
    });
  }

  private async release(order: Order, info: TxInfo): Promise<void> {
    await this.sendUntilAnswered(info, 'release');
    await this.orders.move(order, 'cancel', { reason: 'cancelled_by_client' });
    this.finishTx(info);
  }

  private finishTx(info: TxInfo): void {
    info.done = true;
    this.record({ type: 'tx_done', at: Date.now(), tx: info.tx });
    // A committed tx stays findable by its picks until the order is final.
    if (info.decision !== 'commit') this.txs.delete(info.tx);
    else if (info.order && (info.order.state === 'fulfilled' || info.order.state === 'cancelled'))
      this.txs.delete(info.tx);
  }

  /** Records picks at one terminal: the given lines, or (null) all of its lines in the order. */
  private async registerPicks(
    order: Order,
    tid: string,
    lines: { sku: string; qty: number }[] | null,
  ): Promise<void> {
    const mine = (order.allocation ?? this.txs.get(order.tx ?? '')?.allocation ?? []).filter(
      (a) => a.terminal === tid,
    );
    const picked = lines ?? mine.map((a) => ({ sku: a.sku, qty: a.qty }));
    for (const line of picked) {
      const key = `${tid}/${line.sku}`;
      if (order.picks.has(key) || !mine.some((a) => a.sku === line.sku)) continue;
      order.picks.add(key);
      const qty = mine.filter((a) => a.sku === line.sku).reduce((s, a) => s + a.qty, 0);
      this.record({
        type: 'picked',
        at: Date.now(),
        cid: order.cid,
        orderId: order.orderId,
        tx: order.tx!,
        terminal: tid,
        sku: line.sku,
        qty,
      });
    }
    await this.fulfilIfPicked(order);
  }

  private async fulfilIfPicked(order: Order): Promise<void> {
    if (order.state !== 'confirmed' || !order.allocation) return;
    if (!order.allocation.every((a) => order.picks.has(`${a.terminal}/${a.sku}`))) return;
    if (await this.orders.move(order, 'fulfil')) {
      if (order.tx) this.txs.delete(order.tx);
    }
  }

  private findByTx(tx: string): Order | undefined {
    return this.orders.open().find((o) => o.tx === tx);
  }

  /** Picks are events, and events can be lost: ask terminals about confirmed orders left unpicked. */
  private reconcile(): void {
    const cutoff = Date.now() - this.opts.reconcileMs;
    for (const order of this.orders.open()) {
      if (order.state !== 'confirmed' || order.cancelling || order.reconciling || !order.tx) continue;
      if ((order.confirmedAt ?? 0) > cutoff || !order.allocation) continue;
      const missing = [
        ...new Set(
          order.allocation.filter((a) => !order.picks.has(`${a.terminal}/${a.sku}`)).map((a) => a.terminal),
        ),
      ];
      const tx = order.tx;
      order.reconciling = true;
      this.spawn(async () => {
        try {
          await Promise.all(
            missing
              .filter((tid) => this.view.isOnline(tid))
              .map(async (tid) => {
                const reply = await this.link.request(tid, { op: 'commit', tx }, 1);
                this.log.info(
                  { tid, tx, orderId: order.orderId, code: reply?.code ?? 'no reply' },
                  'asked a terminal about an unpicked order',
                );
                if (reply?.code === 'picked') await this.registerPicks(order, tid, null);
              }),
          );
        } finally {
          order.reconciling = false;
        }
      });
    }
  }
}
