/**
 * Property-based fuzzing (fast-check) of every inbound payload, through a real gateway: client
 * place/cancel/query, a terminal's state/inventory/reply/events/inquiry, and operator fault
 * commands. The oracle is the contract's schema: a valid payload is answered (a status, or an
 * error naming it), an invalid one is refused (an error, for clients and operators) and changes
 * nothing (journal, inventory view). The gateway never crashes, none of its handlers throws, and
 * an order accepted before the fuzzing is still resolved after it, with stock conserved.
 *
 * Seeded: the seed is printed; replay with STOCKGATE_FUZZ_SEED=<seed>. The run budget per payload
 * kind is STOCKGATE_FUZZ_RUNS (CI: 40); README.md gives the long run.
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import {
  CancelOrder,
  type Command,
  GatewayFault,
  Inquiry,
  Inventory,
  LinkFault,
  PlaceOrder,
  QueryOrder,
  REPLY_CODES,
  Reply,
  TerminalEvent,
  TerminalFault,
  TerminalState,
} from '../../protocol/index.ts';
import { PASSWORD, type TestClient, TestSystem } from '../helpers/system.ts';
import { emitter, fuzzBudget, Tap } from './helpers.ts';

const { seed: FUZZ_SEED, runs: FUZZ_RUNS } = fuzzBudget('fuzzPayloads', 40);
const TIMEOUT = Math.max(60_000, FUZZ_RUNS * 600);

let sys: TestSystem;
let c1: TestClient;
let tf: MqttClient;
let op: MqttClient;
let tap: Tap;
let releaseT2!: () => void;
const faultAnswers: { topic: string; payload: string }[] = [];

beforeAll(async () => {
  sys = await TestSystem.start({
    terminals: [{ id: 't1', stock: { apple: 1000, pear: 1000 } }],
    clients: ['c1'],
    gateway: {
      // Limits are tested elsewhere; here nothing may be dropped for going too fast.
      publishRate: { client: 0, terminal: 0, operator: 0 },
      // The held terminal must not time out while the fuzzing runs.
      commandTimeoutMs: 3_600_000,
    },
  });
  c1 = sys.client('c1');
  // t2 holds every command until released: its order stays in flight through all the fuzzing.
  const held = new Promise<void>((resolve) => {
    releaseT2 = resolve;
  });
  await sys.startTerminalWith('t2', { kiwi: 5 }, { commandGate: (_c: Command) => held.then(() => true) });
  await c1.place('before-fuzz', [{ sku: 'kiwi', qty: 2 }]);
  await c1.waitFor('before-fuzz', 'accepted');

  // The fuzzing terminal identity (no terminal process behind it) and the operator.
  await sys.provision('tf', 'terminal');
  tf = await connectMqttAsync(sys.url, {
    clientId: 'tf-fuzz',
    username: 'tf',
    password: PASSWORD,
    reconnectPeriod: 0,
  });
  op = await connectMqttAsync(sys.url, {
    clientId: 'operator-fuzz',
    username: 'operator',
    password: PASSWORD,
    reconnectPeriod: 0,
  });
  op.on('message', (topic, payload) => faultAnswers.push({ topic, payload: payload.toString() }));
  await op.subscribeAsync([sys.topics.faultErrors(), sys.topics.faultsActive()], { qos: 1 });
  tap = await Tap.on(sys.gateway, 'stockgate/#');
  sys.gateway.bus.on('orderState', () => {
    orderMoves++;
  });
});

afterAll(async () => {
  releaseT2?.();
  await tf?.endAsync(true);
  await op?.endAsync(true);
  await sys?.stop();
});

// ---- generators

const anyJson = fc.jsonValue({ maxDepth: 3 });
const nasty = fc.constantFrom(
  '',
  ' ',
  'null',
  '[]',
  '{}',
  '"x"',
  '1e309',
  '-0',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '{"orderId":"a","orderId":"b"}',
  '"\\ud800"',
  '\u0000',
  '\uFEFF{}',
  '{"a":'.repeat(200),
  '['.repeat(5000),
);
/** Anything at all, from raw bytes to JSON of the wrong shape. */
const junk = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.string({ unit: 'binary', maxLength: 80 }).map((s) => Buffer.from(s)),
  anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')),
  nasty.map((s) => Buffer.from(s)),
);

/**
 * A valid payload with one thing wrong: a value replaced (by any JSON, or a near miss), a key
 * removed, or a key added. Reaches past JSON.parse into the schema's every corner.
 */
function mutated<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  const nearMiss = fc.oneof(
    anyJson,
    fc.constantFrom(0, -1, 1.5, 1_000_001, 2 ** 53, '', ' ', 'a/b', 'x'.repeat(200), null, true, [], {}),
  );
  return fc
    .tuple(valid, fc.nat(), nearMiss, fc.constantFrom('replace', 'delete', 'extra'))
    .map(([v, n, bad, how]) => {
      const copy = structuredClone(v) as Record<string, unknown>;
      const slots: [Record<string, unknown>, string][] = [];
      const walk = (o: unknown) => {
        if (!o || typeof o !== 'object') return;
        for (const [k, x] of Object.entries(o)) {
          slots.push([o as Record<string, unknown>, k]);
          walk(x);
        }
      };
      walk(copy);
      if (how === 'extra' || slots.length === 0) return { ...copy, [`x${n % 3}`]: bad };
      const [o, k] = slots[n % slots.length]!;
      if (how === 'delete') delete o[k];
      else o[k] = bad;
      return copy;
    });
}

/** Valid payloads, valid ones with one thing wrong, and junk. */
function payloads<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((v) => Buffer.from(JSON.stringify(v))) },
    { weight: 4, arbitrary: mutated(valid).map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')) },
    { weight: 2, arbitrary: junk },
  );
}

const orderId = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('o1', 'o2', 'o3', 'o4', 'o5', 'o6') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/) },
);
const line = fc.record({
  sku: fc.constantFrom('apple', 'pear', 'durian'),
  qty: fc.integer({ min: 1, max: 3 }),
});
const place = fc.record({
  orderId,
  lines: fc.uniqueArray(line, { minLength: 1, maxLength: 3, selector: (l) => l.sku }),
});
const ref = fc.record({ orderId });

// The fuzzing terminal talks about its own SKUs only, so that no client order is routed to it.
const tfSku = fc.oneof(fc.constantFrom('zz1', 'zz2'), fc.stringMatching(/^zz[a-z0-9]{1,6}$/));
const small = fc.integer({ min: 0, max: 100 });
const txId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/);
const TERMINAL_PAYLOADS = {
  state: fc.oneof(
    fc.record({
      state: fc.constant('online'),
      board: fc.string({ minLength: 1, maxLength: 64 }),
      firmware: fc.constantFrom('fw/1', 'stockgate-terminal/0.1'),
      skus: fc.array(tfSku, { maxLength: 5 }),
    }),
    fc.constant({ state: 'offline' }),
  ),
  inventory: fc.record({
    seq: small,
    items: fc.dictionary(tfSku, fc.record({ onHand: small, reserved: small, committed: small }), {
      maxKeys: 3,
    }),
  }),
  reply: fc.record(
    {
      id: fc.string({ minLength: 1, maxLength: 10 }),
      tx: txId,
      op: fc.constantFrom('prepare', 'commit', 'abort', 'release'),
      ok: fc.boolean(),
      code: fc.constantFrom(...REPLY_CODES),
      seq: small,
    },
    { requiredKeys: ['id', 'tx', 'op', 'ok'] },
  ),
  events: fc.record(
    { seq: small, kind: fc.constantFrom('restock', 'count', 'picked'), sku: tfSku, qty: small, tx: txId },
    { requiredKeys: ['seq', 'kind'] },
  ),
  inquiry: fc.record({ tx: txId }),
} as const;
const SCHEMAS = {
  state: TerminalState,
  inventory: Inventory,
  reply: Reply,
  events: TerminalEvent,
  inquiry: Inquiry,
};

const duration = { durationMs: fc.integer({ min: 1, max: 5_000 }) };
const opt = { requiredKeys: ['kind' as const] };
const fault = fc.oneof(
  fc.record({ kind: fc.constantFrom('crash', 'freeze', 'stale', 'reorder', 'partition'), ...duration }, opt),
  fc.record({ kind: fc.constant('slow'), ms: fc.integer({ min: 1, max: 60_000 }), ...duration }, opt),
  fc.record(
    {
      kind: fc.constantFrom('drop', 'duplicate'),
      pct: fc.double({ min: 0, max: 100, noNaN: true }),
      ...duration,
    },
    opt,
  ),
  fc.record(
    {
      kind: fc.constant('delay'),
      ms: fc.integer({ min: 0, max: 200 }),
      jitterMs: fc.integer({ min: 0, max: 50 }),
      ...duration,
    },
    { requiredKeys: ['kind', 'ms'] },
  ),
  fc.constant({ kind: 'heal' }),
);

/** How many of the payloads sent were valid, per kind (printed: the fuzzing must reach the logic). */
const validity = new Map<string, { valid: number; all: number }>();
function count(kind: string, valid: boolean): void {
  const c = validity.get(kind) ?? { valid: 0, all: 0 };
  c.all++;
  if (valid) c.valid++;
  validity.set(kind, c);
}

// ---- helpers

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Orders created or moved so far: every one is journaled first, then announced on the bus (and
 * only then to the client), so once a run has its answer they are all counted.
 */
let orderMoves = 0;
function orderMovesSoFar(): number {
  return orderMoves;
}

/** Journal records a terminal event with these fields made (none for an invalid one). */
function eventRecords(tid: string, payload: Buffer): number {
  const e = parseJson(payload) as { seq?: unknown; sku?: unknown; qty?: unknown } | undefined;
  if (!e || typeof e !== 'object') return 0;
  let n = 0;
  for (const r of sys.gateway.history()) {
    if (
      r.type === 'terminal_event' &&
      r.terminal === tid &&
      r.seq === e.seq &&
      r.sku === e.sku &&
      r.qty === e.qty
    )
      n++;
  }
  return n;
}

function statusesOf(orderId: unknown): number {
  return typeof orderId === 'string' ? (c1.statuses.get(orderId)?.length ?? 0) : 0;
}

const SETTLED = new Set(['confirmed', 'rejected', 'failed', 'cancelled', 'fulfilled']);

/** Publishes a client payload and waits for the answer the contract promises. */
async function clientRun(kind: 'place' | 'cancel' | 'query', payload: Buffer): Promise<void> {
  const schema = kind === 'place' ? PlaceOrder : kind === 'cancel' ? CancelOrder : QueryOrder;
  const json = parseJson(payload);
  const valid = payload.length <= 16 * 1024 && schema.safeParse(json).success;
  count(kind, valid);
  const id = valid ? (json as { orderId: string }).orderId : undefined;
  const errorsBefore = c1.errors.length;
  const statusesBefore = statusesOf(id);
  const recordsBefore = orderMovesSoFar();
  // An invalid payload may still name an order: it must not hear about it.
  const named =
    json !== null && typeof json === 'object' ? (json as { orderId?: unknown }).orderId : undefined;
  const namedBefore = statusesOf(named);
  await c1.raw(kind, payload);
  if (!valid) {
    // Refused: an error comes back, no status, and no order was created or moved.
    await c1.waitError((e) => c1.errors.indexOf(e) >= errorsBefore, 5000);
    expect(orderMovesSoFar(), 'orders moved after an invalid payload').toBe(recordsBefore);
    // JSON.stringify: String() throws on an object whose "toString" key holds no function.
    expect(statusesOf(named), `statuses of ${JSON.stringify(named)} after an invalid payload`).toBe(
      namedBefore,
    );
    return;
  }
  const answered = () =>
    c1.errors.slice(errorsBefore).some((e) => e.ref === id) ||
    (statusesOf(id) > statusesBefore &&
      (kind !== 'place' || SETTLED.has(c1.state(id!)!)) &&
      (kind !== 'cancel' || c1.state(id!) !== 'confirmed' || c1.errors.slice(errorsBefore).length > 0));
  await until(c1, ['status', 'error-message'], answered, 10_000, `an answer to ${kind} ${id}`);
  if (kind === 'query') expect(orderMovesSoFar(), 'orders moved after a query').toBe(recordsBefore);
}

function viewOf(tid: string): string {
  return JSON.stringify({ online: sys.gateway.view.isOnline(tid), stock: sys.gateway.view.stock(tid) });
}

async function terminalRun(kind: keyof typeof SCHEMAS, payload: Buffer): Promise<void> {
  const topic = sys.topics.terminal('tf', kind);
  const valid = SCHEMAS[kind].safeParse(parseJson(payload)).success;
  count(kind, valid);
  const recordsBefore = orderMovesSoFar();
  const eventsBefore = kind === 'events' && !valid ? eventRecords('tf', payload) : 0;
  // An order of an earlier run may have changed t1's ledger a moment ago: compare from a settled view.
  await sys.viewCaughtUp('t1');
  const viewBefore = viewOf('tf');
  const t1Before = viewOf('t1');
  const marker = tap.messages.length;
  await tf.publishAsync(topic, payload, { qos: 1 });
  // The tap sees the message in the same dispatch as the gateway's own handler.
  await until(
    tap.events,
    'message',
    () => tap.messages.slice(marker).some((m) => m.topic === topic),
    5000,
    `${topic} to be routed`,
  );
  expect(tf.connected).toBe(true);
  expect(viewOf('t1'), "another terminal's view").toBe(t1Before);
  // A terminal's message never creates or moves an order of its own accord here.
  expect(orderMovesSoFar(), 'orders moved after a terminal message').toBe(recordsBefore);
  if (!valid) {
    expect(viewOf('tf'), 'the view after an invalid message').toBe(viewBefore);
    if (kind === 'events') expect(eventRecords('tf', payload)).toBe(eventsBefore);
  }
}

type FaultTargetPath = 'gateway' | 'terminals/tf' | 'links/tf';
async function faultRun(target: FaultTargetPath, payload: Buffer): Promise<void> {
  const schema = target === 'gateway' ? GatewayFault : target === 'terminals/tf' ? TerminalFault : LinkFault;
  const parsed = schema.safeParse(parseJson(payload));
  count(`fault ${target}`, parsed.success);
  const before = faultAnswers.length;
  await op.publishAsync(`stockgate/faults/${target}`, payload, { qos: 1 });
  const kind = parsed.success ? (parsed.data as { kind: string }).kind : undefined;
  // A terminal crash is an event for the terminal itself: the gateway has nothing to answer.
  if (target === 'terminals/tf' && kind === 'crash') return;
  // Refusals (and the gateway crash, which needs the gateway in its own process) go to
  // faults/errors; whatever is put in force or healed is republished on faults/active.
  const refused = !parsed.success || (target === 'gateway' && kind === 'crash');
  const want = refused ? sys.topics.faultErrors() : sys.topics.faultsActive();
  await until(
    emitter(op),
    'message',
    () => faultAnswers.slice(before).some((a) => a.topic === want),
    5000,
    `an answer on ${want} to ${target} ${payload.toString().slice(0, 80)}`,
  );
  expect(op.connected).toBe(true);
}

const runs = (i: number) => ({ seed: FUZZ_SEED + i, numRuns: FUZZ_RUNS, endOnFailure: true });

// ---- properties

describe(`fuzzing inbound payloads (seed ${FUZZ_SEED})`, () => {
  it('client place, cancel and query: answered or refused, never recorded when invalid', {
    timeout: TIMEOUT,
  }, async () => {
    const kinds = fc.constantFrom('place' as const, 'cancel' as const, 'query' as const);
    const arb = fc
      .tuple(kinds, fc.nat())
      .chain(([kind]) => fc.tuple(fc.constant(kind), kind === 'place' ? payloads(place) : payloads(ref)));
    await fc.assert(
      fc.asyncProperty(arb, ([kind, payload]) => clientRun(kind, payload)),
      { ...runs(0), numRuns: FUZZ_RUNS * 3 },
    );
  });

  it.each(Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[])(
    "a terminal's %s: an invalid one changes nothing, none disturbs another terminal",
    { timeout: TIMEOUT },
    async (kind) => {
      await fc.assert(
        fc.asyncProperty(payloads(TERMINAL_PAYLOADS[kind] as fc.Arbitrary<unknown>), (p) =>
          terminalRun(kind, p),
        ),
        runs(1 + Object.keys(SCHEMAS).indexOf(kind)),
      );
    },
  );

  it('operator fault commands: refused on faults/errors or put in force on faults/active', {
    timeout: TIMEOUT,
  }, async () => {
    const target = fc.constantFrom<FaultTargetPath>('gateway', 'terminals/tf', 'links/tf');
    await fc.assert(
      fc.asyncProperty(target, payloads(fault), (t, p) => faultRun(t, p)),
      { ...runs(10), numRuns: FUZZ_RUNS * 2 },
    );
    // Whatever is in force, it concerns the fuzzing terminal only.
    const health = (await (await fetch(`http://127.0.0.1:${sys.gateway.ports.http}/healthz`)).json()) as {
      faults: { target: string }[];
    };
    for (const f of health.faults) expect(f.target).toMatch(/tf$/);
  });

  it('afterwards: nothing crashed, the order accepted before is resolved, stock is conserved', async () => {
    console.log(
      'fuzzPayloads: valid/sent',
      Object.fromEntries([...validity].map(([k, v]) => [k, `${v.valid}/${v.all}`])),
    );
    // The fuzzing reached the logic, not only the parser.
    for (const [kind, v] of validity)
      if (!kind.startsWith('fault')) expect(v.valid, `valid ${kind} payloads`).toBeGreaterThan(0);
    const faults = [...validity].filter(([k]) => k.startsWith('fault')).reduce((n, [, v]) => n + v.valid, 0);
    expect(faults, 'valid fault commands').toBeGreaterThan(0);
    expect(sys.gateway.mqttBroker!.handlerFailures).toBe(0);
    releaseT2();
    await c1.waitFor('before-fuzz', 'confirmed');
    expect(sys.stock('t2', 'kiwi')).toEqual({ onHand: 5, reserved: 0, committed: 2 });
    await sys.quiesce();
    // At t1: committed = the lines of the orders whose last status is confirmed; nothing reserved.
    const committed: Record<string, number> = { apple: 0, pear: 0 };
    for (const list of c1.statuses.values()) {
      const last = list.at(-1)!;
      if (last.state !== 'confirmed') continue;
      for (const a of last.allocation ?? []) if (a.terminal === 't1') committed[a.sku]! += a.qty;
    }
    for (const sku of ['apple', 'pear']) {
      expect(sys.stock('t1', sku)).toEqual({ onHand: 1000, reserved: 0, committed: committed[sku] });
    }
    // And it still serves.
    await c1.place('after-fuzz', [{ sku: 'apple', qty: 1 }]);
    await c1.waitFor('after-fuzz', 'confirmed');
    const health = await fetch(`http://127.0.0.1:${sys.gateway.ports.http}/healthz`);
    expect(health.status).toBe(200);
  });
});
