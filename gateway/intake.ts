/**
 * Order intake: what clients publish on `clients/<cid>/orders/{place,cancel,query}`. Everything is
 * validated here; anything refused gets an `errors` message naming what it refers to, is logged,
 * and changes nothing. `(cid, orderId)` is the idempotency key of `place`.
 */

import { logger } from '../lib/log.ts';
import {
  CancelOrder,
  type ClientError,
  guessRef,
  isFinal,
  PlaceOrder,
  parsePayload,
  QueryOrder,
} from '../protocol/index.ts';
import type { Bus } from './bus.ts';
import type { Coordinator } from './coordinator.ts';
import type { Journal } from './journal/journal.ts';
import type { Orders } from './orders.ts';

export interface IntakeOptions {
  /** Largest payload accepted on a client topic, in bytes. */
  maxPayloadBytes: number;
  /**
   * Orders one client may have in flight (placed, not yet confirmed or final); more are refused
   * with too_many_in_flight. 0 or absent: no limit.
   */
  maxInFlightPerClient?: number;
}

export class Intake {
  private readonly log = logger('intake');
  /** cid -> orderIds placed and not yet confirmed or final. */
  private readonly inFlight = new Map<string, Set<string>>();

  constructor(
    private readonly orders: Orders,
    private readonly coordinator: Coordinator,
    private readonly journal: Journal,
    private readonly bus: Bus,
    private readonly opts: IntakeOptions,
  ) {
    bus.on('orderState', (e) => {
      if (e.to !== 'accepted') this.settled(e.cid, e.orderId);
    });
  }

  /** Counts orders recovered from the journal that are still undecided. */
  track(orders: Iterable<{ cid: string; orderId: string; state: string }>): void {
    for (const o of orders) if (o.state === 'accepted') this.flying(o.cid).add(o.orderId);
  }

  /** Orders of `cid` in flight now. */
  inFlightOf(cid: string): number {
    return this.inFlight.get(cid)?.size ?? 0;
  }

  private flying(cid: string): Set<string> {
    let set = this.inFlight.get(cid);
    if (!set) {
      set = new Set();
      this.inFlight.set(cid, set);
    }
    return set;
  }

  private settled(cid: string, orderId: string): void {
    const set = this.inFlight.get(cid);
    if (!set?.delete(orderId)) return;
    if (set.size === 0) this.inFlight.delete(cid);
  }

  onMessage(cid: string, kind: 'place' | 'cancel' | 'query', payload: Buffer): void {
    if (payload.length > this.opts.maxPayloadBytes) {
      return this.refuse(cid, {
        code: 'payload_too_large',
        message: `payload of ${payload.length} bytes exceeds the limit of ${this.opts.maxPayloadBytes}`,
      });
    }
    switch (kind) {
      case 'place':
        return this.place(cid, payload);
      case 'cancel':
        return this.cancel(cid, payload);
      case 'query':
        return this.query(cid, payload);
    }
  }

  private place(cid: string, payload: Buffer): void {
    const parsed = parsePayload(PlaceOrder, payload);
    if (!parsed.ok)
      return this.refuse(cid, withRef({ code: parsed.code, message: parsed.message }, guessRef(payload)));
    const { orderId, lines } = parsed.value;
    const known = this.orders.lookup(cid, orderId);
    if (known) {
      // A re-sent place: never a second order; re-send where the order stands.
      this.orders.publishStatus(known);
      return;
    }
    // The journal's catalog holds every SKU a terminal ever advertised (the gateway records each
    // state and inventory there as it updates its view), so it alone answers, in O(1) per line.
    const unknown = lines.filter((l) => !this.journal.knowsSku(l.sku));
    if (unknown.length > 0) {
      return this.refuse(cid, {
        ref: orderId,
        code: 'unknown_sku',
        message: `no terminal stocks ${unknown.map((l) => `'${l.sku}'`).join(', ')}`,
      });
    }
    const max = this.opts.maxInFlightPerClient ?? 0;
    if (max > 0 && this.inFlightOf(cid) >= max) {
      return this.refuse(cid, {
        ref: orderId,
        code: 'too_many_in_flight',
        message: `${max} orders of this client are still in flight: send it again once one is confirmed or final`,
      });
    }
    const order = this.orders.create(cid, orderId, lines);
    this.flying(cid).add(orderId);
    this.orders.accept(order).then(
      () => this.coordinator.drive(order),
      (err: Error) => {
        this.settled(cid, orderId);
        this.orders.forget(order);
        this.log.error({ cid, orderId, err: err.message }, 'could not journal an order');
        this.refuse(cid, {
          ref: orderId,
          code: 'internal',
          message: 'the order could not be recorded; send it again',
        });
      },
    );
  }

  private cancel(cid: string, payload: Buffer): void {
    const parsed = parsePayload(CancelOrder, payload);
    if (!parsed.ok)
      return this.refuse(cid, withRef({ code: parsed.code, message: parsed.message }, guessRef(payload)));
    const { orderId } = parsed.value;
    const order = this.orders.get(cid, orderId);
    if (!order) {
      const row = this.journal.findOrder(cid, orderId);
      if (!row)
        return this.refuse(cid, { ref: orderId, code: 'unknown_order', message: `no order '${orderId}'` });
      if (row.state === 'cancelled') return this.orders.publishStatus(row);
      if (isFinal(row.state)) {
        return this.refuse(cid, {
          ref: orderId,
          code: 'cannot_cancel',
          message: `the order is already ${row.state}`,
        });
      }
      return this.refuse(cid, {
        ref: orderId,
        code: 'internal',
        message: 'the order is being recovered; try again',
      });
    }
    const refusal = this.coordinator.cancel(order);
    if (!refusal) this.bus.emit('cancelRequested', { cid, orderId });
    if (refusal) return this.refuse(cid, { ref: orderId, code: 'cannot_cancel', message: refusal });
    if (order.state === 'cancelled') this.orders.publishStatus(order);
  }

  private query(cid: string, payload: Buffer): void {
    const parsed = parsePayload(QueryOrder, payload);
    if (!parsed.ok)
      return this.refuse(cid, withRef({ code: parsed.code, message: parsed.message }, guessRef(payload)));
    const known = this.orders.lookup(cid, parsed.value.orderId);
    if (!known || known.state === 'pending') {
      return this.refuse(cid, {
        ref: parsed.value.orderId,
        code: 'unknown_order',
        message: `no order '${parsed.value.orderId}'`,
      });
    }
    this.orders.publishStatus(known);
  }

  private refuse(cid: string, error: ClientError): void {
    this.log.warn({ cid, ...error }, 'refused client input');
    this.orders.publishError(cid, error);
  }
}

function withRef(error: ClientError, ref: string | undefined): ClientError {
  return ref === undefined ? error : { ref, ...error };
}
