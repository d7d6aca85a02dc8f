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
  type AllocationEntry,
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
  /** Ask for an order's status when nothing was heard of it for this long (statuses can be lost). */
  queryAfterMs?: number;
  /** Misbehaviours, each a probability per order (0..1): the client side of the nemesis. */
  faults?: Partial<ClientFaults>;
  /** Every operation and observation, for the history of a chaos run. */
  record?: (entry: ClientRecord) => void;
}

export interface ClientFaults {
  /** Drop the connection right after placing (statuses sent meanwhile are lost). */
  disconnect: number;
  /** Re-send the same place several times at once. */
  storm: number;
  /** Cancel as soon as the order is accepted, racing its confirm. */
  cancelRace: number;
  /** Publish a malformed message on the place topic. */
  malformed: number;
}

export type ClientRecord =
  | {
      type: 'invoke' | 'ok' | 'fail' | 'info';
      process: string;
      f: 'place' | 'cancel';
      orderId: string;
      lines?: OrderLine[];
      state?: OrderState;
      reason?: string;
      error?: string;
    }
  | {
      type: 'observe';
      process: string;
      orderId: string;
      state: OrderState;
      reason?: string;
      allocation?: AllocationEntry[];
    };

interface Tracked {
  orderId: string;
  conn: number;
  lines: OrderLine[];
  placedAt: number;
  acceptedAt?: number;
  state?: OrderState;
  lastSentAt: number;
  /** Last time anything was heard of it (a status), for the status query. */
  lastHeardAt: number;
  resends: number;
  queries: number;
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
  private readonly conns: { client: MqttClient; cid: string; process: string }[] = [];
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
      const conn = k;
      client.on('message', (topic, payload) => this.onMessage(conn, cid, topic, payload));
      await client.subscribeAsync([this.topics.client(cid, 'status'), this.topics.client(cid, 'errors')], {
        qos: 1,
      });
      this.conns.push({ client, cid, process: `${cid}#${k}` });
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

  /** Orders still followed (not final), for the end of a run: recorded as `info` (outcome unknown). */
  unresolved(): { orderId: string; process: string; state?: OrderState }[] {
    return [...this.orders.values()].map((o) => ({
      orderId: o.orderId,
      process: this.conns[o.conn]!.process,
      ...(o.state ? { state: o.state } : {}),
    }));
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
    this.orders.set(orderId, {
      orderId,
      conn,
      lines,
      placedAt: now,
      lastSentAt: now,
      lastHeardAt: now,
      resends: 0,
      queries: 0,
    });
    this.counts.placed++;
    const process = this.conns[conn]!.process;
    this.opts.record?.({ type: 'invoke', process, f: 'place', orderId, lines });
    this.send(conn, 'place', { orderId, lines });
    const faults = this.opts.faults;
    if (!faults) return;
    if (faults.storm && this.rng.next() < faults.storm) {
      for (let i = 0; i < 5; i++) this.send(conn, 'place', { orderId, lines });
    }
    if (faults.malformed && this.rng.next() < faults.malformed) {
      const c = this.conns[conn]!;
      const garbage = this.rng.pick([
        '{"orderId":',
        '[]',
        '{"orderId":"x","lines":[{"sku":"a","qty":-1}]}',
        '\u0000\u00ff',
      ]);
      c.client.publish(this.topics.client(c.cid, 'place'), garbage, { qos: 1 });
    }
    if (faults.disconnect && this.rng.next() < faults.disconnect) {
      // Dropped mid-flight: mqtt.js reconnects; statuses published meanwhile are lost.
      (this.conns[conn]!.client.stream as { destroy?: () => void } | undefined)?.destroy?.();
    }
  }

  private send(conn: number, kind: 'place' | 'cancel' | 'query', body: object): void {
    const c = this.conns[conn]!;
    c.client.publish(this.topics.client(c.cid, kind), JSON.stringify(body), { qos: 1 });
  }

  private cancel(o: Tracked, delayMs: number): void {
    const timer = setTimeout(() => {
      this.cancelTimers.delete(timer);
      if (this.stopped) return;
      this.opts.record?.({
        type: 'invoke',
        process: this.conns[o.conn]!.process,
        f: 'cancel',
        orderId: o.orderId,
      });
      this.send(o.conn, 'cancel', { orderId: o.orderId });
    }, delayMs);
    this.cancelTimers.add(timer);
  }

  private resend(): void {
    const now = Date.now();
    const every = this.opts.resendMs ?? 2000;
    const queryAfter = this.opts.queryAfterMs ?? 5000;
    for (const o of this.orders.values()) {
      // While the connection is down mqtt.js queues what is sent and sends it all on reconnect:
      // re-sending meanwhile only adds copies to that backlog.
      if (!this.conns[o.conn]!.client.connected) continue;
      if (o.state !== undefined) {
        // Known but not final, and silent for a while: a status may have been lost. Ask.
        const wait = Math.min(queryAfter * 2 ** o.queries, 60_000);
        if (now - o.lastHeardAt >= wait && now - o.lastSentAt >= wait) {
          o.lastSentAt = now;
          o.queries++;
          this.send(o.conn, 'query', { orderId: o.orderId });
        }
        continue;
      }
      const wait = Math.min(every * 2 ** o.resends, 30_000);
      if (now - o.lastSentAt < wait) continue;
      o.lastSentAt = now;
      o.resends++;
      this.counts.resends++;
      this.send(o.conn, 'place', { orderId: o.orderId, lines: o.lines });
    }
  }

  private onMessage(conn: number, cid: string, topic: string, payload: Buffer): void {
    if (topic === this.topics.client(cid, 'errors')) {
      const parsed = parsePayload(ClientError, payload);
      this.counts.errors++;
      if (parsed.ok) {
        this.log.warn({ cid, ...parsed.value }, 'gateway refused an order');
        const o = parsed.value.ref ? this.orders.get(parsed.value.ref) : undefined;
        // A refused place will be refused again: stop re-sending it.
        // The gateway says it does not know an order it had accepted: it was lost. Say so and stop.
        const lost = o && o.conn === conn && o.state !== undefined && parsed.value.code === 'unknown_order';
        if (lost) {
          this.counts.byState.lost = (this.counts.byState.lost ?? 0) + 1;
          this.opts.record?.({
            type: 'fail',
            process: this.conns[conn]!.process,
            f: 'place',
            orderId: o.orderId,
            error: 'unknown_order',
          });
          this.orders.delete(o.orderId);
        }
        if (o && o.conn === conn && o.state === undefined && parsed.value.code !== 'internal') {
          this.counts.byState.refused = (this.counts.byState.refused ?? 0) + 1;
          this.opts.record?.({
            type: 'fail',
            process: this.conns[conn]!.process,
            f: 'place',
            orderId: o.orderId,
            error: parsed.value.code,
          });
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
    // Every connection of a cid gets its statuses; only the one that placed the order follows it.
    if (!o || o.conn !== conn || (o.state && isFinal(o.state))) return;
    o.lastHeardAt = Date.now();
    this.opts.record?.({
      type: 'observe',
      process: this.conns[conn]!.process,
      orderId: o.orderId,
      state: status.state,
      ...(status.reason !== undefined ? { reason: status.reason } : {}),
      ...(status.allocation ? { allocation: status.allocation } : {}),
    });
    if (status.state === 'accepted' && o.acceptedAt === undefined) {
      o.acceptedAt = Date.now();
      const race = this.opts.faults?.cancelRace;
      if (race && this.rng.next() < race) this.cancel(o, 0);
    }
    if (status.state === 'confirmed' && o.state !== 'confirmed') {
      if (o.acceptedAt !== undefined) this.latency.recordValue(Math.max(1, Date.now() - o.acceptedAt));
      if (this.opts.cancelShare && this.rng.next() < this.opts.cancelShare)
        this.cancel(o, this.rng.int(0, 200));
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
    const wanted = state === 'fulfilled' || state === 'cancelled';
    this.opts.record?.({
      type: wanted ? 'ok' : 'fail',
      process: this.conns[o.conn]!.process,
      f: 'place',
      orderId: o.orderId,
      state,
    });
    this.emit('final', o.orderId, state);
    // Keep memory flat over long runs.
    this.orders.delete(o.orderId);
  }
}
