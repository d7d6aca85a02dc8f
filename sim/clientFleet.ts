/**
 * A fleet of simulated customers. Orders arrive open-loop (a Poisson process at the given rate,
 * whatever the system's latency), with 1..N lines of SKUs the terminals advertise. Like a real
 * client, each re-sends `place` with the same orderId until it sees a status: the orderId is the
 * idempotency key, so nothing is ever ordered twice.
 */
import { EventEmitter } from 'node:events';
import hdr from 'hdr-histogram-js';
import type { MqttClient } from 'mqtt';
import { logger } from '../lib/log.ts';
import { connectMqttAsync } from '../lib/mqtt.ts';
import { Rng } from '../lib/random.ts';
import {
  ClientError,
  isFinal,
  type OrderLine,
  type OrderState,
  OrderStatus,
  parsePayload,
  TerminalState,
  Topics,
} from '../protocol/index.ts';

export interface Credential {
  username: string;
  password: string;
}

export interface ClientFleetOptions {
  url: string;
  /** Identities to connect as; connections beyond their number share them (clientId `<cid>-<k>`). */
  clients: Credential[];
  connections: number;
  ratePerS: number;
  lines: readonly [number, number];
  qty: readonly [number, number];
  seed: number;
  /** SKUs to order; when absent they are read from the terminals' retained state (needs `catalog`). */
  skus?: string[];
  /** An operator identity, used only to read which SKUs the terminals advertise. */
  catalog?: Credential;
  resendMs?: number;
  /** Share of confirmed orders the customer cancels, 0..1. */
  cancelShare?: number;
  maxOrders?: number;
  baseTopic?: string;
  runId?: string;
}

interface Tracked {
  orderId: string;
  conn: number;
  lines: OrderLine[];
  placedAt: number;
  acceptedAt?: number;
  state?: OrderState;
  lastSentAt: number;
  resends: number;
}

export interface ClientFleetStats {
  placed: number;
  resends: number;
  errors: number;
  inFlight: number;
  byState: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number; count: number };
}

export class ClientFleet extends EventEmitter<{
  final: [orderId: string, state: OrderState];
  status: [OrderStatus];
}> {
  private readonly conns: { client: MqttClient; cid: string }[] = [];
  private catalogClient: MqttClient | null = null;
  private readonly skus = new Set<string>();
  private readonly terminalSkus = new Map<string, string[]>();
  private readonly orders = new Map<string, Tracked>();
  private readonly topics: Topics;
  private readonly rng: Rng;
  private arrivalTimer: NodeJS.Timeout | null = null;
  private resendTimer: NodeJS.Timeout | null = null;
  private readonly cancelTimers = new Set<NodeJS.Timeout>();
  private seq = 0;
  private readonly runId: string;
  private readonly log = logger('sim-clients');
  private readonly latency = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000,
    numberOfSignificantValueDigits: 3,
  });
  readonly counts = { placed: 0, resends: 0, errors: 0, byState: {} as Record<string, number> };
  private stopped = false;

  constructor(private readonly opts: ClientFleetOptions) {
    super();
    this.topics = new Topics(opts.baseTopic);
    this.rng = new Rng(opts.seed);
    this.runId = opts.runId ?? `r${Date.now().toString(36)}`;
    for (const sku of opts.skus ?? []) this.skus.add(sku);
  }

  async start(): Promise<void> {
    if (this.opts.clients.length === 0)
      throw new Error('the client fleet needs at least one client identity');
    if (!this.opts.skus && this.opts.catalog) await this.readCatalog(this.opts.catalog);
    for (let k = 0; k < this.opts.connections; k++) {
      const cred = this.opts.clients[k % this.opts.clients.length]!;
      const shared = this.opts.connections > this.opts.clients.length;
      const client = await connectMqttAsync(this.opts.url, {
        clientId: shared ? `${cred.username}-${this.runId}-${k}` : `${cred.username}-${this.runId}`,
        username: cred.username,
        password: cred.password,
        reconnectPeriod: 500,
      });
      const cid = cred.username;
      client.on('message', (topic, payload) => this.onMessage(cid, topic, payload));
      await client.subscribeAsync([this.topics.client(cid, 'status'), this.topics.client(cid, 'errors')], {
        qos: 1,
      });
      this.conns.push({ client, cid });
    }
    this.scheduleArrival();
    this.resendTimer = setInterval(() => this.resend(), Math.max(100, (this.opts.resendMs ?? 2000) / 4));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.arrivalTimer) clearTimeout(this.arrivalTimer);
    if (this.resendTimer) clearInterval(this.resendTimer);
    for (const t of this.cancelTimers) clearTimeout(t);
    this.cancelTimers.clear();
    await Promise.all(this.conns.map((c) => c.client.endAsync()));
    await this.catalogClient?.endAsync();
  }

  /** Orders placed and not yet in a final state. */
  inFlight(): number {
    let n = 0;
    for (const o of this.orders.values()) if (!o.state || !isFinal(o.state)) n++;
    return n;
  }

  stats(): ClientFleetStats {
    return {
      placed: this.counts.placed,
      resends: this.counts.resends,
      errors: this.counts.errors,
      inFlight: this.inFlight(),
      byState: { ...this.counts.byState },
      latencyMs: {
        p50: this.latency.getValueAtPercentile(50),
        p99: this.latency.getValueAtPercentile(99),
        max: this.latency.maxValue,
        count: this.latency.totalCount,
      },
    };
  }

  /** Stops placing new orders (in-flight ones are still followed and re-sent). */
  pause(): void {
    if (this.arrivalTimer) clearTimeout(this.arrivalTimer);
    this.arrivalTimer = null;
  }

  private async readCatalog(cred: Credential): Promise<void> {
    const client = await connectMqttAsync(this.opts.url, {
      clientId: `${cred.username}-catalog-${this.runId}`,
      username: cred.username,
      password: cred.password,
      reconnectPeriod: 1000,
    });
    this.catalogClient = client;
    client.on('message', (topic, payload) => {
      const t = this.topics.parse(topic);
      if (t?.family !== 'terminal' || t.kind !== 'state') return;
      const parsed = parsePayload(TerminalState, payload);
      if (!parsed.ok) return;
      this.terminalSkus.set(t.tid, parsed.value.state === 'online' ? parsed.value.skus : []);
      this.skus.clear();
      for (const skus of this.terminalSkus.values()) for (const s of skus) this.skus.add(s);
    });
    await client.subscribeAsync(this.topics.allTerminals('state'), { qos: 1 });
  }

  private scheduleArrival(): void {
    if (this.stopped || this.opts.ratePerS <= 0) return;
    if (this.opts.maxOrders !== undefined && this.counts.placed >= this.opts.maxOrders) return;
    this.arrivalTimer = setTimeout(() => {
      this.placeOne();
      this.scheduleArrival();
    }, this.rng.exponentialMs(this.opts.ratePerS));
  }

  private placeOne(): void {
    const skus = [...this.skus];
    if (skus.length === 0 || this.conns.length === 0) return;
    const conn = this.rng.int(0, this.conns.length - 1);
    const n = Math.min(this.rng.int(this.opts.lines[0], this.opts.lines[1]), skus.length);
    const chosen = new Set<string>();
    while (chosen.size < n) chosen.add(this.rng.pick(skus));
    const lines = [...chosen].map((sku) => ({ sku, qty: this.rng.int(this.opts.qty[0], this.opts.qty[1]) }));
    const orderId = `${this.runId}-${++this.seq}`;
    const now = Date.now();
    this.orders.set(orderId, { orderId, conn, lines, placedAt: now, lastSentAt: now, resends: 0 });
    this.counts.placed++;
    this.send(conn, 'place', { orderId, lines });
  }

  private send(conn: number, kind: 'place' | 'cancel', body: object): void {
    const c = this.conns[conn]!;
    c.client.publish(this.topics.client(c.cid, kind), JSON.stringify(body), { qos: 1 });
  }

  private resend(): void {
    const now = Date.now();
    const every = this.opts.resendMs ?? 2000;
    for (const o of this.orders.values()) {
      if (o.state !== undefined) continue;
      const wait = Math.min(every * 2 ** o.resends, 30_000);
      if (now - o.lastSentAt < wait) continue;
      o.lastSentAt = now;
      o.resends++;
      this.counts.resends++;
      this.send(o.conn, 'place', { orderId: o.orderId, lines: o.lines });
    }
  }

  private onMessage(cid: string, topic: string, payload: Buffer): void {
    if (topic === this.topics.client(cid, 'errors')) {
      const parsed = parsePayload(ClientError, payload);
      this.counts.errors++;
      if (parsed.ok) {
        this.log.warn({ cid, ...parsed.value }, 'gateway refused an order');
        const o = parsed.value.ref ? this.orders.get(parsed.value.ref) : undefined;
        // A refused place will be refused again: stop re-sending it.
        if (o && o.state === undefined && parsed.value.code !== 'internal') {
          this.counts.byState.refused = (this.counts.byState.refused ?? 0) + 1;
          this.orders.delete(o.orderId);
        }
      }
      return;
    }
    const parsed = parsePayload(OrderStatus, payload);
    if (!parsed.ok) return;
    const status = parsed.value;
    this.emit('status', status);
    const o = this.orders.get(status.orderId);
    if (!o || (o.state && isFinal(o.state))) return;
    if (status.state === 'accepted' && o.acceptedAt === undefined) o.acceptedAt = Date.now();
    if (status.state === 'confirmed' && o.state !== 'confirmed') {
      if (o.acceptedAt !== undefined) this.latency.recordValue(Math.max(1, Date.now() - o.acceptedAt));
      if (this.opts.cancelShare && this.rng.next() < this.opts.cancelShare) {
        const timer = setTimeout(
          () => {
            this.cancelTimers.delete(timer);
            if (!this.stopped) this.send(o.conn, 'cancel', { orderId: o.orderId });
          },
          this.rng.int(0, 200),
        );
        this.cancelTimers.add(timer);
      }
    }
    if (o.state !== status.state) {
      if (o.state) this.counts.byState[o.state] = (this.counts.byState[o.state] ?? 1) - 1;
      this.counts.byState[status.state] = (this.counts.byState[status.state] ?? 0) + 1;
    }
    o.state = status.state;
    if (isFinal(status.state)) this.finish(o, status.state);
  }

  private finish(o: Tracked, state: OrderState): void {
    if (o.state !== state) {
      if (o.state) this.counts.byState[o.state] = (this.counts.byState[o.state] ?? 1) - 1;
      this.counts.byState[state] = (this.counts.byState[state] ?? 0) + 1;
    }
    o.state = state;
    this.emit('final', o.orderId, state);
    // Keep memory flat over long runs.
    this.orders.delete(o.orderId);
  }
}
