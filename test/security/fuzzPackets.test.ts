/**
 * Raw MQTT on a real socket, fuzzed with fast-check: malformed CONNECTs, oversized remaining
 * lengths, bad UTF-8 in topics, and a flood of SUBSCRIBEs. In every case the gateway answers or
 * disconnects cleanly: it never crashes, never delivers what it refused, keeps no state for what
 * it refused (persistent subscriptions, connections, identities), and an order accepted before the
 * fuzzing is resolved after it.
 *
 * Seeded: the seed is printed; replay with STOCKGATE_FUZZ_SEED=<seed>; STOCKGATE_FUZZ_RUNS sets the
 * budget per property (CI: 60).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTH_BACKOFF, DEFAULT_LIMITS, maxPacketBytes } from '../../gateway/limits.ts';
import { until } from '../../lib/wait.ts';
import type { Command } from '../../protocol/index.ts';
import { PASSWORD, type TestClient, TestSystem } from '../helpers/system.ts';
import {
  connectPacket,
  fuzzBudget,
  packet,
  publishPacket,
  RawClient,
  str,
  subscribePacket,
  Tap,
  varint,
} from './helpers.ts';

const { seed: SEED, runs: RUNS } = fuzzBudget('fuzzPackets', 60);
const TIMEOUT = Math.max(60_000, RUNS * 500);

let sys: TestSystem;
let c1: TestClient;
let tap: Tap;
let release!: () => void;
let baseline = { sockets: 0, identities: 0 };

beforeAll(async () => {
  sys = await TestSystem.start({
    terminals: [],
    clients: ['c1'],
    gateway: {
      // A truncated CONNECT is closed after this (the default is 10 s).
      connectTimeoutMs: 300,
      commandTimeoutMs: 3_600_000,
      // Mutated CONNECTs carry random usernames: keep the address from backing off, so that the
      // legitimate clients of this test (same address) are never refused.
      authBackoff: { ...DEFAULT_AUTH_BACKOFF, addressUsernames: 1e9 },
    },
  });
  c1 = sys.client('c1');
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await sys.startTerminalWith('t1', { apple: 10 }, { commandGate: (_c: Command) => held.then(() => true) });
  await c1.place('before-raw', [{ sku: 'apple', qty: 3 }]);
  await c1.waitFor('before-raw', 'accepted');
  for (const name of ['fz', 'fzc', 'fzs']) await sys.provision(name, 'client');
  tap = await Tap.on(sys.gateway, '#');
  const broker = sys.gateway.mqttBroker!;
  baseline = { sockets: broker.openConnections, identities: broker.trackedIdentities };
});

afterAll(async () => {
  release?.();
  await sys?.stop();
});

const port = () => sys.gateway.ports.mqtt;

/** Sends bytes on a fresh socket and waits until the broker closed it or sent a CONNACK. */
async function outcome(bytes: Buffer): Promise<{ closed: boolean; connack: number | null; raw: RawClient }> {
  const raw = await RawClient.open(port());
  raw.send(bytes);
  await raw.waitFor(() => raw.closed || raw.of(2).length > 0, 5000, 'a CONNACK or the connection closed');
  return { closed: raw.closed, connack: raw.of(2)[0]?.body[1] ?? null, raw };
}

const validConnect = () => connectPacket({ clientId: 'fz-raw', username: 'fz', password: PASSWORD });

// ---- generators

const mutatedConnect = fc
  .tuple(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    fc.boolean(),
  )
  .map(([flips, fixLength]) => {
    const p = Buffer.from(validConnect());
    // Mutate the body (after the fixed header), keeping or breaking the declared length.
    for (const [at, value] of flips) p[2 + (at % (p.length - 2))] = value;
    if (!fixLength) return p;
    return packet(0x10, p.subarray(2));
  });
const randomPacket = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 120 }))
  .map(([first, body]) => packet(first, Buffer.from(body)));
const weirdConnect = fc
  .record({
    name: fc.oneof(fc.constantFrom('MQTT', 'MQIsdp', 'mqtt', ''), fc.string({ maxLength: 6 })),
    level: fc.integer({ min: 0, max: 255 }),
    flags: fc.integer({ min: 0, max: 255 }),
    keepalive: fc.integer({ min: 0, max: 65535 }),
    fields: fc.array(
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
      ),
      {
        maxLength: 5,
      },
    ),
  })
  .map(({ name, level, flags, keepalive, fields }) => {
    const ka = Buffer.alloc(2);
    ka.writeUInt16BE(keepalive);
    return packet(
      0x10,
      Buffer.concat([str(name), Buffer.from([level, flags]), ka, ...fields.map((f) => str(f))]),
    );
  });

/** Byte sequences that are not UTF-8. */
const badUtf8 = fc.oneof(
  fc.constantFrom(
    [0xc3, 0x28],
    [0xa0, 0xa1],
    [0xe2, 0x28, 0xa1],
    [0xf0, 0x28, 0x8c, 0x28],
    [0xff],
    [0xfe, 0xfe],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
    [0xf8, 0x88, 0x80, 0x80, 0x80],
  ),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => [0xff, ...b]),
);
const badTopic = fc
  .tuple(
    fc.constantFrom('stockgate/clients/fzc/orders/', 'stockgate/clients/fzc/orders/place', 'stockgate/', ''),
    badUtf8,
    fc.constantFrom('', 'place', '/place'),
  )
  .map(([a, bad, b]) => Buffer.concat([Buffer.from(a), Buffer.from(bad), Buffer.from(b)]));

// ---- properties

describe(`raw MQTT fuzzing (seed ${SEED})`, () => {
  it('malformed CONNECTs and stray packets: a CONNACK or a clean close, every time', {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedConnect, randomPacket, weirdConnect), async (bytes) => {
        const { closed, connack, raw } = await outcome(bytes);
        expect(closed || connack !== null).toBe(true);
        // A CONNACK 0 is only ever for fz with its password and a clientId of its own.
        if (connack === 0) {
          expect(bytes.includes(Buffer.from(PASSWORD))).toBe(true);
          expect(bytes.includes(Buffer.from('fz'))).toBe(true);
        }
        raw.end();
      }),
      { seed: SEED, numRuns: RUNS * 3, endOnFailure: true },
    );
  });

  it('a truncated CONNECT is closed at the connect timeout', async () => {
    const full = validConnect();
    for (const cut of [1, 2, 5, full.length - 1]) {
      const raw = await RawClient.open(port());
      raw.send(full.subarray(0, cut));
      await raw.waitClosed(5000);
      expect(raw.of(2)).toHaveLength(0);
    }
  });

  it('oversized remaining lengths are refused before their body is read', { timeout: TIMEOUT }, async () => {
    const limit = maxPacketBytes(DEFAULT_LIMITS);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0x10, 0x30, 0x32, 0x82, 0xa2, 0xc0, 0xe0),
        fc.integer({ min: limit + 1, max: 268_435_455 }),
        fc.boolean(),
        async (first, length, authenticated) => {
          const raw = authenticated
            ? await RawClient.connected(port(), { clientId: 'fzc-big', username: 'fzc', password: PASSWORD })
            : await RawClient.open(port());
          const before = sys.gateway.security.count('packet_too_large');
          raw.send(Buffer.concat([Buffer.from([first]), varint(length), Buffer.alloc(64, 0x61)]));
          await raw.waitClosed(5000);
          expect(sys.gateway.security.count('packet_too_large')).toBe(before + 1);
        },
      ),
      { seed: SEED + 1, numRuns: RUNS, endOnFailure: true },
    );
  });

  it('bad UTF-8 in a PUBLISH topic: refused (connection closed), delivered nowhere', {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(badTopic, fc.constantFrom<0 | 1>(0, 1), async (topic, qos) => {
        const raw = await RawClient.connected(port(), {
          clientId: 'fzc-utf',
          username: 'fzc',
          password: PASSWORD,
        });
        raw.send(publishPacket(topic, '{"orderId":"utf","lines":[{"sku":"apple","qty":1}]}', qos, 7));
        await raw.waitClosed(5000);
        expect(raw.of(4)).toHaveLength(0);
        expect(tap.messages.some((m) => m.topic.includes('\uFFFD'))).toBe(false);
      }),
      { seed: SEED + 2, numRuns: RUNS, endOnFailure: true },
    );
    expect(c1.state('utf')).toBeUndefined();
  });

  it('bad UTF-8 in SUBSCRIBE filters: SUBACK 128 (or a close), nothing granted', {
    timeout: TIMEOUT,
  }, async () => {
    const open = () =>
      RawClient.connected(port(), { clientId: 'fzc-sub', username: 'fzc', password: PASSWORD });
    let raw = await open();
    let id = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(badTopic, { minLength: 1, maxLength: 4 }), async (filters) => {
          if (raw.closed) raw = await open();
          const n = raw.of(9).length;
          raw.send(subscribePacket(++id, filters));
          await raw.waitFor(() => raw.closed || raw.of(9).length > n, 5000, 'a SUBACK');
          if (raw.closed) return;
          const suback = raw.of(9)[n]!;
          // Filters that decode to the same string are merged by aedes (one return code each).
          const distinct = new Set(filters.map((f) => f.toString('utf8'))).size;
          expect([...suback.body.subarray(2)]).toEqual(Array.from({ length: distinct }, () => 128));
        }),
        { seed: SEED + 3, numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      raw.end();
    }
  });

  it('a flood of SUBSCRIBEs on a persistent session: answered, and only what was granted is kept', async () => {
    const own = ['stockgate/clients/fzs/orders/status', 'stockgate/clients/fzs/errors'];
    const filters = fc.sample(
      fc.oneof(
        fc.constantFrom(...own),
        fc.constantFrom('#', 'stockgate/#', 'stockgate/clients/+/orders/status', '$SYS/#'),
        fc
          .array(fc.oneof(fc.stringMatching(/^[a-z0-9]{1,6}$/), fc.constant('+')), {
            minLength: 1,
            maxLength: 5,
          })
          .map((levels) => `stockgate/${levels.join('/')}`),
      ),
      { seed: SEED + 4, numRuns: 2000 },
    );
    const raw = await RawClient.connected(port(), {
      clientId: 'fzs-persist',
      username: 'fzs',
      password: PASSWORD,
      clean: false,
    });
    raw.send(Buffer.concat(filters.map((f, i) => subscribePacket((i % 65_000) + 1, [f]))));
    await raw.waitFor(() => raw.closed || raw.of(9).length === filters.length, 20_000, 'every SUBACK');
    expect(raw.closed).toBe(false);
    const granted = raw.of(9).filter((p) => p.body[2] !== 128).length;
    expect(granted).toBeGreaterThan(0);
    expect(granted).toBeLessThanOrEqual(filters.filter((f) => own.includes(f)).length);
    raw.send(Buffer.from([0xe0, 0x00]));
    await raw.waitClosed();
    // What the session keeps: the granted filters only.
    const persistence = (
      sys.gateway.mqttBroker as unknown as {
        aedes: { persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]> } };
      }
    ).aedes.persistence;
    const kept = (await persistence.subscriptionsByClient({ id: 'fzs-persist' })).map((s) => s.topic).sort();
    expect(kept.every((t) => own.includes(t))).toBe(true);
  });

  it('afterwards: no crash, no leak, and the order accepted before is resolved', async () => {
    const broker = sys.gateway.mqttBroker!;
    expect(broker.handlerFailures).toBe(0);
    await until(
      broker.events,
      'socketClosed',
      () => broker.openConnections === baseline.sockets,
      10_000,
      'fuzz sockets to close',
    );
    expect(broker.trackedIdentities).toBe(baseline.identities);
    expect(broker.backoffEntries).toBeLessThanOrEqual(DEFAULT_AUTH_BACKOFF.maxEntries);
    release();
    await c1.waitFor('before-raw', 'confirmed');
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 3 });
    await c1.place('after-raw', [{ sku: 'apple', qty: 1 }]);
    await c1.waitFor('after-raw', 'confirmed');
  });
});
