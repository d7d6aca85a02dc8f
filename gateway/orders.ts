/**
 * The order table: every order's current state, moved only through the protocol's state machine,
 * journaled before it is announced. A status reaches the client only once the state it reports is
 * durable, so what a client saw is never un-happened by a crash.
 */

import { logger } from '../lib/log.ts';
import { mutation } from '../lib/mutations.ts';
import {
  type AllocationEntry,
  type ClientError,
  isFinal,
  type OrderEvent,
  type OrderLine,
  type OrderState,
  type OrderStatus,
  type Topics,
  transition,
} from '../protocol/index.ts';
import type { Broker } from './broker.ts';
import type { Bus } from './bus.ts';
import type { Journal, OrderRow } from './journal/journal.ts';

export interface Order {
  cid: string;
  orderId: string;
  lines: OrderLine[];
  /** `pending` until `accepted` is durable. */
  state: OrderState | 'pending';
  reason?: string;
  /** The committed allocation, from `confirmed` on. */
  allocation?: AllocationEntry[];
  /** The current transaction (the committed one from `confirmed` on). */
  tx?: string;
  acceptedAt: number;
  confirmedAt?: number;
  cancelRequested: boolean;
  /** Picks reported for the committed tx: `<terminal>/<sku>`. */
  picks: Set<string>;
  /** Terminals that refused this order's prepare for want of stock: skipped on the next attempt. */
  refusedBy: Set<string>;
  /** Terminals that did not answer this order's prepare: skipped on the next attempt. */
  timedOutAt: Set<string>;
  attempts: number;
  /** Set while a confirmed order's stock is being released. */
  cancelling: boolean;
  reconciling: boolean;
  lock: Promise<void>;
}

export function orderKey(cid: string, orderId: string): string {
  return `${cid}\u0000${orderId}`;
}

/** How many finished orders stay in memory; older ones are answered from the journal. */
const KEEP_FINISHED = 10_000;

export class Orders {
  private readonly orders = new Map<string, Order>();
  private readonly finished: string[] = [];
  private readonly log = logger('orders');

  constructor(
    private readonly journal: Journal,
    private readonly broker: Broker,
    private readonly topics: Topics,
    private readonly bus: Bus,
  ) {}

  get(cid: string, orderId: string): Order | undefined {
    return this.orders.get(orderKey(cid, orderId));
  }

  /** The order in memory, or a read-only view of it from the journal. */
  lookup(cid: string, orderId: string): Order | OrderRow | undefined {
    return this.get(cid, orderId) ?? this.journal.findOrder(cid, orderId);
  }

  open(): Order[] {
    return [...this.orders.values()].filter((o) => o.state !== 'pending' && !isFinal(o.state));
  }

  countsByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const o of this.orders.values()) counts[o.state] = (counts[o.state] ?? 0) + 1;
    return counts;
  }

  /** Registers a new order as pending; `accept()` makes it durable. */
  create(cid: string, orderId: string, lines: OrderLine[]): Order {
    const order: Order = {
      cid,
      orderId,
      lines,
      state: 'pending',
      acceptedAt: Date.now(),
      cancelRequested: false,
      picks: new Set(),
      refusedBy: new Set(),
      timedOutAt: new Set(),
      attempts: 0,
      cancelling: false,
      reconciling: false,
      lock: Promise.resolve(),
    };
    this.orders.set(orderKey(cid, orderId), order);
    return order;
  }

  /** Puts back an order recovered from the journal. */
  restore(row: OrderRow): Order {
    const order = this.create(row.cid, row.orderId, row.lines);
    order.state = row.state;
    order.acceptedAt = row.acceptedAt;
    if (row.reason !== undefined) order.reason = row.reason;
    if (row.allocation) order.allocation = row.allocation;
    if (row.tx) order.tx = row.tx;
    if (row.state === 'confirmed') order.confirmedAt = row.updatedAt;
    return order;
  }

  forget(order: Order): void {
    this.orders.delete(orderKey(order.cid, order.orderId));
  }

  async accept(order: Order): Promise<void> {
    // Mutation: announce `accepted` without making it durable.
    if (!mutation('skip-journal'))
      await this.journal.append({
        type: 'accepted',
        at: order.acceptedAt,
        cid: order.cid,
        orderId: order.orderId,
        lines: order.lines,
      });
    order.state = 'accepted';
    this.bus.emit('orderState', {
      cid: order.cid,
      orderId: order.orderId,
      from: null,
      to: 'accepted',
      at: order.acceptedAt,
      acceptedAt: order.acceptedAt,
    });
    this.publishStatus(order);
  }

  /**
   * Moves an order through the state machine: journal, then announce. Returns false (and changes
   * nothing) if the machine has no such transition from the current state.
   */
  move(
    order: Order,
    event: Exclude<OrderEvent, 'accept'>,
    extras: { reason?: string; allocation?: AllocationEntry[] } = {},
  ): Promise<boolean> {
    // Serialised per order: a pick completing the order and a cancel may race; one wins, the
    // other finds no transition and changes nothing.
    const run = order.lock.then(() => this.moveNow(order, event, extras));
    order.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async moveNow(
    order: Order,
    event: Exclude<OrderEvent, 'accept'>,
    extras: { reason?: string; allocation?: AllocationEntry[] },
  ): Promise<boolean> {
    if (order.state === 'pending') return false;
    const from = order.state;
    const next = transition(from, event);
    if (!next.ok) {
      this.log.debug({ cid: order.cid, orderId: order.orderId, error: next.error }, 'transition not taken');
      return false;
    }
    const to = next.state as Exclude<OrderState, 'accepted'>;
    const at = Date.now();
    await this.journal.append({
      type: 'state',
      at,
      cid: order.cid,
      orderId: order.orderId,
      state: to,
      ...(extras.reason !== undefined ? { reason: extras.reason } : {}),
      ...(extras.allocation ? { allocation: extras.allocation } : {}),
      ...(to === 'confirmed' && order.tx ? { tx: order.tx } : {}),
    });
    order.state = to;
    if (extras.reason !== undefined) order.reason = extras.reason;
    if (extras.allocation) order.allocation = extras.allocation;
    if (to === 'confirmed') order.confirmedAt = at;
    this.bus.emit('orderState', {
      cid: order.cid,
      orderId: order.orderId,
      from,
      to,
      at,
      acceptedAt: order.acceptedAt,
    });
    this.publishStatus(order);
    if (isFinal(to)) this.retire(order);
    return true;
  }

  publishStatus(order: Order | OrderRow): void {
    if (order.state === 'pending') return;
    const status: OrderStatus = { orderId: order.orderId, state: order.state, at: Date.now() };
    if (order.reason !== undefined) status.reason = order.reason;
    if (order.allocation && order.state !== 'accepted') status.allocation = order.allocation;
    void this.broker.publish(this.topics.client(order.cid, 'status'), JSON.stringify(status), { qos: 1 });
  }

  publishError(cid: string, error: ClientError): void {
    this.bus.emit('refused', { cid, code: error.code });
    void this.broker.publish(this.topics.client(cid, 'errors'), JSON.stringify(error), { qos: 1 });
  }

  private retire(order: Order): void {
    this.finished.push(orderKey(order.cid, order.orderId));
    while (this.finished.length > KEEP_FINISHED) {
      const key = this.finished.shift()!;
      const o = this.orders.get(key);
      if (o && o.state !== 'pending' && isFinal(o.state)) this.orders.delete(key);
    }
  }
}
