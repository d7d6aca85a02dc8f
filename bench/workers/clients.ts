/**
 * The bench's customers: an open-loop load generator (Poisson arrivals at any rate, drift-free:
 * arrivals are computed in virtual time and all that are due are sent on each tick, so a busy
 * event loop catches up instead of lowering the rate), and idle connections for the scale workload.
 *
 * Like a real client it re-sends `place` (same orderId) until it sees a status, asks (`query`) about
 * an accepted order it has not heard of for a while, and asks about all its open orders as soon as
 * it reconnects. An order counts as resolved at `confirmed`, `rejected`, `failed` or `cancelled`, or
 * when the gateway refused it (an `errors` message naming it).
 */
import hdr from 'hdr-histogram-js';
import type { MqttClient } from 'mqtt';
import { connectMqtt, connectMqttAsync } from '../../lib/mqtt.ts';
import { Rng } from '../../lib/random.ts';
import { Topics } from '../../protocol/index.ts';
import type { Cred } from '../lib/identities.ts';
import { ready, serve } from '../lib/rpc.ts';

interface Conn {
  client: MqttClient;
  cid: string;
  place: string;
  query: string;
  /** When the connection was last lost (performance.now()), or -1. */
  lostAt: number;
}

interface Tracked {
  orderId: string;
  conn: number;
  body: string;
  placedAt: number;
  acceptedAt?: number;
  state?: string;
  lastSentAt: number;
  lastHeardAt: number;
  resends: number;
}

const topics = new Topics();
const conns: Conn[] = [];
const idleConns: MqttClient[] = [];

interface IdleSpec {
  url: string;
  cred: Cred;
  clientId: string;
}

interface Storm {
  t0: number;
  total: number;
  connected: number;
  failed: number;
  errors: Record<string, number>;
  times: number[];
  /** The connections that failed, to retry. */
  lost: IdleSpec[];
  /** Those still connecting, to give up on at a deadline. */
  pending: Set<MqttClient>;
  /** Given up on: what still happens to its connections no longer counts. */
  abandoned?: boolean;
}
let currentStorm: Storm | null = null;

/** A new storm of `total` connections, from now on the current one. */
function startStorm(total: number): Storm {
  currentStorm = {
    t0: performance.now(),
    total,
    connected: 0,
    failed: 0,
    errors: {},
    times: [],
    lost: [],
    pending: new Set(),
  };
  return currentStorm;
}

/** One idle connection: connected and subscribed, or failed (it is not reconnected by mqtt.js). */
function openIdle(storm: Storm, spec: IdleSpec): void {
  const { cred } = spec;
  const client = connectMqtt(spec.url, {
    clientId: spec.clientId,
    username: cred.username,
    password: cred.password,
    reconnectPeriod: 0,
    connectTimeout: 300_000,
  });
  let settled = false;
  storm.pending.add(client);
  const fail = (why: string) => {
    if (settled) return;
    settled = true;
    storm.pending.delete(client);
    if (storm.abandoned) return void client.end(true);
    storm.failed++;
    storm.lost.push(spec);
    const m = why.slice(0, 60);
    storm.errors[m] = (storm.errors[m] ?? 0) + 1;
    client.end(true);
  };
  client.on('error', (err) => fail(err.message));
  client.on('close', () => fail('closed before it was subscribed'));
  client.once('connect', () => {
    client.subscribe(
      [topics.client(cred.username, 'status'), topics.client(cred.username, 'errors')],
      { qos: 1 },
      (err) => {
        if (err) return fail(err.message);
        if (settled) return;
        settled = true;
        storm.pending.delete(client);
        storm.connected++;
        storm.times.push(performance.now() - storm.t0);
        idleConns.push(client);
      },
    );
  });
}
const orders = new Map<string, Tracked>();
let rng = new Rng(1);
let skus: string[] = [];
let linesRange: [number, number] = [1, 3];
let qtyRange: [number, number] = [1, 3];
let runId = `b${Date.now().toString(36)}`;
let resendMs = 1000;
let queryMs = 1000;
let seq = 0;

let rate = 0;
let nextAt = 0;
let ticker: NodeJS.Timeout | null = null;
let maintenance: NodeJS.Timeout | null = null;

const counts = {
  placed: 0,
  confirmed: 0,
  rejected: 0,
  failed: 0,
  cancelled: 0,
  fulfilled: 0,
  refused: 0,
  lost: 0,
  resends: 0,
  queries: 0,
  statuses: 0,
};
const errorsByCode: Record<string, number> = {};
const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
/** accepted -> confirmed, and place -> accepted, in µs. */
let toConfirmed = histogram();
let toAccepted = histogram();

/** The orders in flight when `mark` was called, until each is resolved. */
let watched: Set<string> | null = null;
/** Wall-clock times of the connections made again since `mark` (the recovery phase's "clients back"). */
let reconnectedAt: number[] = [];
let lastWatchedResolvedAt = 0;

function resolvedTotal(): number {
  return counts.confirmed + counts.rejected + counts.failed + counts.cancelled + counts.refused + counts.lost;
}

function resolve(o: Tracked, how: keyof typeof counts): void {
  counts[how]++;
  orders.delete(o.orderId);
  if (watched?.delete(o.orderId)) lastWatchedResolvedAt = Date.now();
}

function onMessage(k: number, topic: string, payload: Buffer): void {
  const c = conns[k]!;
  let body: { orderId?: string; state?: string; ref?: string; code?: string };
  try {
    body = JSON.parse(payload.toString()) as typeof body;
  } catch {
    return;
  }
  const now = performance.now();
  if (topic.endsWith('/errors')) {
    const code = body.code ?? '?';
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    const o = body.ref ? orders.get(body.ref) : undefined;
    if (!o || o.conn !== k) return;
    if (code === 'unknown_order' && o.state !== undefined) resolve(o, 'lost');
    else if (o.state === undefined && code !== 'internal') resolve(o, 'refused');
    return;
  }
  if (topic !== topics.client(c.cid, 'status')) return;
  counts.statuses++;
  if (body.state === 'fulfilled') counts.fulfilled++;
  const o = body.orderId ? orders.get(body.orderId) : undefined;
  if (!o || o.conn !== k) return;
  o.lastHeardAt = now;
  const state = body.state ?? '';
  if (o.acceptedAt === undefined && state !== '') {
    o.acceptedAt = now;
    toAccepted.recordValue(Math.max(1, Math.round((now - o.placedAt) * 1000)));
  }
  o.state = state;
  switch (state) {
    case 'confirmed':
    case 'fulfilled':
      toConfirmed.recordValue(Math.max(1, Math.round((now - o.acceptedAt!) * 1000)));
      return resolve(o, 'confirmed');
    case 'rejected':
    case 'failed':
    case 'cancelled':
      return resolve(o, state);
  }
}

function placeOne(now: number): void {
  const k = rng.int(0, conns.length - 1);
  const c = conns[k]!;
  const n = Math.min(rng.int(linesRange[0], linesRange[1]), skus.length);
  const chosen = new Set<string>();
  while (chosen.size < n) chosen.add(rng.pick(skus));
  const lines = [...chosen].map((sku) => ({ sku, qty: rng.int(qtyRange[0], qtyRange[1]) }));
  const orderId = `${runId}-${(++seq).toString(36)}`;
  const body = JSON.stringify({ orderId, lines });
  orders.set(orderId, {
    orderId,
    conn: k,
    body,
    placedAt: now,
    lastSentAt: now,
    lastHeardAt: now,
    resends: 0,
  });
  counts.placed++;
  sendPlace(c, orders.get(orderId)!);
}

/**
 * Re-sends count from the broker's PUBACK, not from the call: a place queued while the connection
 * was down has not been sent until it is flushed, and re-sending it on the clock of the call made
 * every order placed during a gateway restart go out twice.
 */
function sendPlace(c: Conn, o: Tracked): void {
  c.client.publish(c.place, o.body, { qos: 1 }, (err) => {
    if (!err) o.lastSentAt = performance.now();
  });
}

function tick(): void {
  ticker = null;
  if (rate <= 0) return;
  const now = performance.now();
  // Every arrival due by now (a late tick sends the backlog: open loop).
  let budget = 10_000;
  while (nextAt <= now && budget-- > 0) {
    placeOne(nextAt);
    nextAt += rng.exponentialMs(rate);
  }
  ticker = setTimeout(tick, Math.max(0, Math.min(5, nextAt - performance.now())));
}

function setRate(r: number): void {
  rate = r;
  if (ticker) clearTimeout(ticker);
  ticker = null;
  if (r > 0) {
    nextAt = performance.now() + rng.exponentialMs(r);
    tick();
  }
}

/** Re-send places nobody answered, ask about accepted orders gone quiet. */
function maintain(): void {
  const now = performance.now();
  for (const o of orders.values()) {
    const c = conns[o.conn]!;
    if (!c.client.connected) continue;
    const wait = Math.min((o.state === undefined ? resendMs : queryMs) * 2 ** o.resends, 8000);
    if (now - o.lastSentAt < wait || now - o.lastHeardAt < wait) continue;
    o.lastSentAt = now;
    o.resends++;
    askAbout(c, o);
  }
}

/** An order not yet heard of: place it again; an accepted one: ask where it stands. */
function askAbout(c: Conn, o: Tracked): void {
  if (o.state === undefined) {
    counts.resends++;
    sendPlace(c, o);
  } else {
    counts.queries++;
    c.client.publish(c.query, JSON.stringify({ orderId: o.orderId }), { qos: 1 });
  }
}

/**
 * After a reconnect: where do my open orders stand? Only orders sent before the connection was lost
 * are asked about: those placed while it was down sit in mqtt.js' offline queue and go out now
 * anyway (sending them twice doubled the backlog a restarted gateway had to work through).
 */
function askAll(k: number): void {
  const c = conns[k]!;
  const now = performance.now();
  for (const o of orders.values()) {
    if (o.conn !== k || o.lastSentAt > c.lostAt) continue;
    o.lastSentAt = now;
    askAbout(c, o);
  }
}

function percentiles(h: ReturnType<typeof histogram>) {
  const ms = (v: number) => Math.round(v) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

interface ConnectArgs {
  url: string;
  identities: Cred[];
  /** Connections per identity. */
  perIdentity: number;
  skus: string[];
  lines: [number, number];
  qty: [number, number];
  seed: number;
  runId: string;
  resendMs?: number;
  queryMs?: number;
  reconnectMs?: number;
}

serve(
  {
    async connect(a: ConnectArgs) {
      rng = new Rng(a.seed);
      skus = a.skus;
      linesRange = a.lines;
      qtyRange = a.qty;
      runId = a.runId;
      resendMs = a.resendMs ?? 1000;
      queryMs = a.queryMs ?? 1000;
      const t0 = performance.now();
      const specs = a.identities.flatMap((cred) =>
        Array.from({ length: a.perIdentity }, (_, j) => ({ cred, j })),
      );
      await Promise.all(
        specs.map(async ({ cred, j }) => {
          const client = await connectMqttAsync(a.url, {
            clientId: `${cred.username}-${runId}-${j}`,
            username: cred.username,
            password: cred.password,
            reconnectPeriod: a.reconnectMs ?? 500,
            connectTimeout: 60_000,
          });
          const k = conns.length;
          conns.push({
            client,
            cid: cred.username,
            place: topics.client(cred.username, 'place'),
            query: topics.client(cred.username, 'query'),
            lostAt: -1,
          });
          client.on('message', (topic, payload) => onMessage(k, topic, payload));
          // 'close' also follows every failed attempt to reconnect: only the first after a
          // connection counts.
          let up = true;
          client.on('close', () => {
            if (up) conns[k]!.lostAt = performance.now();
            up = false;
          });
          // mqtt.js re-subscribes on reconnect; ask once that is through.
          client.on('connect', () => {
            up = true;
            if (watched) reconnectedAt.push(Date.now());
            setTimeout(() => askAll(k), 50);
          });
          client.on('error', () => undefined);
          await client.subscribeAsync(
            [topics.client(cred.username, 'status'), topics.client(cred.username, 'errors')],
            { qos: 1 },
          );
        }),
      );
      maintenance = setInterval(maintain, 100);
      return { connections: conns.length, ms: performance.now() - t0 };
    },
    /**
     * Idle customers: connections that subscribe to their status and errors and never order.
     * All are started at once (a connect storm); `idleStatus` follows them.
     */
    idleStart(a: { url: string; identities: Cred[]; perIdentity: number; runId: string; offset: number }) {
      const storm = startStorm(0);
      const specs = a.identities.flatMap((cred) =>
        Array.from({ length: a.perIdentity }, (_, j) => ({
          url: a.url,
          cred,
          clientId: `${cred.username}-${a.runId}-${a.offset + j}`,
        })),
      );
      storm.total = specs.length;
      for (const spec of specs) openIdle(storm, spec);
      return { total: storm.total };
    },
    /**
     * Connects again, `batch` at a time, the connections of the last storm that failed (as a
     * customer's app would retry); `idleStatus` follows.
     */
    idleRetry({ batch }: { batch: number }) {
      const previous = currentStorm;
      if (previous) previous.abandoned = true;
      const specs = [...(previous?.lost ?? [])];
      const storm = startStorm(specs.length);
      void (async () => {
        for (let i = 0; i < specs.length; i += batch) {
          const part = specs.slice(i, i + batch);
          const before = storm.connected + storm.failed;
          for (const spec of part) openIdle(storm, spec);
          while (storm.connected + storm.failed < before + part.length)
            await new Promise((r) => setTimeout(r, 20));
        }
      })();
      return { total: storm.total };
    },
    /** Gives up on the connections of the current storm still connecting: they count as failed. */
    idleAbandon() {
      const s = currentStorm;
      if (!s) return { abandoned: 0 };
      const stuck = [...s.pending];
      for (const c of stuck) c.emit('error', new Error('still connecting at the deadline'));
      return { abandoned: stuck.length };
    },
    idleStatus() {
      const s = currentStorm;
      if (!s) return null;
      const times = [...s.times].sort((x, y) => x - y);
      return {
        total: s.total,
        connected: s.connected,
        failed: s.failed,
        pending: s.total - s.connected - s.failed,
        errors: s.errors,
        ms: times.at(-1) ?? 0,
        p50Ms: times[Math.floor(times.length / 2)] ?? 0,
        elapsedMs: performance.now() - s.t0,
      };
    },
    idleConnected() {
      return idleConns.filter((c) => c.connected).length;
    },
    setRate({ rate: r }: { rate: number }) {
      setRate(r);
    },
    snapshot({ reset }: { reset?: boolean }) {
      let oldest = 0;
      const now = performance.now();
      for (const o of orders.values()) oldest = Math.max(oldest, now - o.placedAt);
      const out = {
        at: Date.now(),
        ...counts,
        resolved: resolvedTotal(),
        inFlight: orders.size,
        oldestInFlightMs: Math.round(oldest),
        errorsByCode: { ...errorsByCode },
        acceptedToConfirmed: percentiles(toConfirmed),
        placeToAccepted: percentiles(toAccepted),
        connected: conns.filter((c) => c.client.connected).length,
      };
      if (reset) {
        toConfirmed = histogram();
        toAccepted = histogram();
      }
      return out;
    },
    /** Marks the orders in flight now; `watched` tells how many are still unresolved. */
    mark() {
      watched = new Set(orders.keys());
      lastWatchedResolvedAt = Date.now();
      reconnectedAt = [];
      return {
        marked: watched.size,
        at: Date.now(),
        orders: [...watched].map((id) => ({ cid: conns[orders.get(id)!.conn]!.cid, orderId: id })),
      };
    },
    watched() {
      return { left: watched?.size ?? 0, lastResolvedAt: lastWatchedResolvedAt, reconnectedAt };
    },
  },
  async () => {
    setRate(0);
    if (maintenance) clearInterval(maintenance);
    await Promise.all([
      ...conns.map((c) => c.client.endAsync(true)),
      ...idleConns.map((c) => c.endAsync(true)),
    ]);
  },
);

ready();
