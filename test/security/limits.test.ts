/**
 * Every limit triggers, with a clear answer and a security event (each also logs a line): payload
 * size (broker and intake), packet size on the wire and over WebSocket, publish and subscribe
 * rate, connections, orders in flight per client, auth backoff, and a slow consumer that is cut
 * off without stalling the others. Each block runs its own gateway with small limits.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_AUTH_BACKOFF } from '../../gateway/limits.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import type { Command } from '../../protocol/index.ts';
import { PASSWORD, type SystemOptions, TestSystem } from '../helpers/system.ts';
import { connectPacket, emitter, nextSecurity, RawClient, subscribePacket, Tap, varint } from './helpers.ts';

let sys: TestSystem | undefined;
afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

async function system(opts: SystemOptions): Promise<TestSystem> {
  sys = await TestSystem.start(opts);
  return sys;
}

function connect(s: TestSystem, username: string, clientId: string, extra = {}): Promise<MqttClient> {
  return connectMqttAsync(s.url, { clientId, username, password: PASSWORD, reconnectPeriod: 0, ...extra });
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
}

describe('payload and packet size', () => {
  const KB = 1024;
  const opts = (): SystemOptions => ({
    terminals: [],
    clients: ['c1'],
    gateway: { maxPublishBytes: 32 * KB },
  });

  it('the intake answers payload_too_large on the place topic (over 16 KiB)', async () => {
    const s = await system(opts());
    const c = s.client('c1');
    await c.raw('place', JSON.stringify({ orderId: 'big', lines: [], pad: 'x'.repeat(20 * KB) }));
    const err = await c.waitError((e) => e.code === 'payload_too_large');
    expect(err.message).toMatch(/exceeds the limit of 16384/);
  });

  it('the broker drops a publish over its limit on any topic, tells a client, keeps the connection', async () => {
    const s = await system(opts());
    await s.provision('t1', 'terminal');
    const tap = await Tap.on(s.gateway, 'stockgate/#');
    const c = s.client('c1');
    const dropped = nextSecurity(s.gateway, 'payload_too_large', (e) => e.topic.endsWith('/place'));
    await c.raw('place', 'x'.repeat(33 * KB));
    const e = await dropped;
    expect(e).toMatchObject({ bytes: 33 * KB, limit: 32 * KB });
    const err = await c.waitError((x) => x.code === 'payload_too_large' && /broker/.test(x.message));
    expect(err.message).toMatch(/exceeds the broker's limit of 32768/);
    expect(c.mqtt.connected).toBe(true);

    // A terminal too (no errors topic: the refusal is the log line and the event).
    const t = await connect(s, 't1', 't1-big');
    const tdrop = nextSecurity(s.gateway, 'payload_too_large', (x) => x.topic.endsWith('/inventory'));
    await t.publishAsync('stockgate/terminals/t1/inventory', Buffer.alloc(33 * KB, 0x20), { qos: 1 });
    await tdrop;
    expect(t.connected).toBe(true);
    expect(tap.messages.filter((m) => m.topic === 'stockgate/terminals/t1/inventory')).toHaveLength(0);
    await t.endAsync();
  });

  it('a packet announcing more than the limit is refused as soon as its length is read', async () => {
    const s = await system(opts());
    const raw = await RawClient.connected(s.gateway.ports.mqtt, {
      clientId: 'c1-raw',
      username: 'c1',
      password: PASSWORD,
    });
    const refused = nextSecurity(s.gateway, 'packet_too_large');
    // A PUBLISH header announcing 256 MiB - 1, and nothing else: the broker must not wait for it.
    raw.send(Buffer.concat([Buffer.from([0x30]), varint(268_435_455)]));
    expect((await refused).bytes).toBe(268_435_455);
    await raw.waitClosed();

    // Before CONNECT too.
    const anon = await RawClient.open(s.gateway.ports.mqtt);
    anon.send(Buffer.concat([Buffer.from([0x10]), varint(10_000_000)]));
    await anon.waitClosed();
  });

  it('over WebSocket as well', async () => {
    const s = await system(opts());
    const ws = await connectMqttAsync(`ws://127.0.0.1:${s.gateway.ports.ws}/mqtt`, {
      clientId: 'c1-ws',
      username: 'c1',
      password: PASSWORD,
      reconnectPeriod: 0,
    });
    const gone = closed(ws);
    ws.publish('stockgate/clients/c1/orders/place', Buffer.alloc(40 * KB, 0x20), { qos: 1 });
    await gone;
  });

  it('a will over the limit is refused at CONNECT', async () => {
    const s = await system(opts());
    await s.provision('t1', 'terminal');
    const raw = await RawClient.open(s.gateway.ports.mqtt);
    const refused = nextSecurity(s.gateway, 'will_refused');
    raw.send(
      connectPacket({
        clientId: 't1',
        username: 't1',
        password: PASSWORD,
        will: { topic: 'stockgate/terminals/t1/state', payload: Buffer.alloc(33 * KB, 0x20), retain: true },
      }),
    );
    expect(await raw.connack()).toBe(5);
    expect((await refused).reason).toMatch(/exceeds the limit/);
  });
});

describe('publish rate per connection', () => {
  it('over the rate a message is dropped with rate_limited; a flood is disconnected', async () => {
    const s = await system({
      terminals: [],
      clients: ['c1'],
      gateway: { publishRate: { client: 5, terminal: 5000, operator: 50 } },
    });
    const c = s.client('c1');
    const pub = await connect(s, 'c1', 'c1-fast');
    const limited = nextSecurity(s.gateway, 'rate_limited', (e) => e.clientId === 'c1-fast');
    // Burst is 10: thirty at once cannot all pass.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        pub.publishAsync('stockgate/clients/c1/orders/query', JSON.stringify({ orderId: `q${i}` }), {
          qos: 1,
        }),
      ),
    );
    await limited;
    const err = await c.waitError((e) => e.code === 'rate_limited');
    expect(err.message).toMatch(/more than 5 messages\/s/);
    expect(err.ref).toMatch(/^q\d+$/);
    expect(pub.connected).toBe(true);
    // The ones let through were answered (unknown_order), the rest were not.
    await c.waitError((e) => e.code === 'unknown_order');
    const answered = c.errors.filter((e) => e.code === 'unknown_order').length;
    expect(answered).toBeLessThan(30);

    const flood = nextSecurity(s.gateway, 'flood', (e) => e.clientId === 'c1-fast');
    const gone = closed(pub);
    for (let i = 0; i < 300; i++) pub.publish('stockgate/clients/c1/orders/query', '{}', { qos: 0 });
    expect((await flood).dropped).toBeGreaterThan(100);
    await gone;
  });

  it('a flood of SUBSCRIBEs is refused past the rate and then disconnected', async () => {
    const s = await system({
      terminals: [],
      clients: ['c1'],
      gateway: { publishRate: { client: 5, terminal: 5000, operator: 50 } },
    });
    const raw = await RawClient.connected(s.gateway.ports.mqtt, {
      clientId: 'c1-subs',
      username: 'c1',
      password: PASSWORD,
    });
    // Burst is 10: of fifteen, ten are granted and five refused (SUBACK 128), connection kept.
    const limited = nextSecurity(
      s.gateway,
      'rate_limited',
      (e) => e.clientId === 'c1-subs' && e.what === 'subscribe',
    );
    raw.send(
      Buffer.concat(
        Array.from({ length: 15 }, (_, i) => subscribePacket(i + 1, ['stockgate/clients/c1/orders/status'])),
      ),
    );
    await raw.waitFor(() => raw.of(9).length === 15, 5000, '15 SUBACKs');
    await limited;
    const codes = raw.of(9).map((p) => p.body[2]);
    expect(codes.filter((x) => x === 1).length).toBeGreaterThanOrEqual(10);
    expect(codes).toContain(128);
    expect(raw.closed).toBe(false);
    // A flood is cut off.
    const flood = nextSecurity(s.gateway, 'flood', (e) => e.clientId === 'c1-subs');
    raw.send(
      Buffer.concat(
        Array.from({ length: 500 }, (_, i) =>
          subscribePacket(i + 100, ['stockgate/clients/c1/orders/status']),
        ),
      ),
    );
    await flood;
    await raw.waitClosed();
    expect(s.gateway.mqttBroker!.trackedIdentities).toBeLessThanOrEqual(1);
  });
});

describe('connections', () => {
  it('past the limit a client gets CONNACK 3 (server unavailable); once one leaves, it is let in', async () => {
    const s = await system({ terminals: [], clients: ['c1'], gateway: { maxConnections: 3 } });
    const broker = s.gateway.mqttBroker!;
    const a = await connect(s, 'c1', 'c1-a');
    const b = await connect(s, 'c1', 'c1-b');
    expect(broker.openConnections).toBe(3);
    const limit = nextSecurity(s.gateway, 'connection_limit');
    await expect(connect(s, 'c1', 'c1-c')).rejects.toThrow(/Server unavailable/i);
    expect(await limit).toMatchObject({ limit: 3 });
    await until(
      broker.events,
      'socketClosed',
      () => broker.openConnections === 3,
      5000,
      'the refused socket to close',
    );
    await a.endAsync();
    await until(broker.events, 'socketClosed', () => broker.openConnections === 2, 5000, 'a client to leave');
    const c = await connect(s, 'c1', 'c1-c');
    await Promise.all([b.endAsync(), c.endAsync()]);
  });
});

describe('orders in flight per client', () => {
  it('past the limit a place is refused with too_many_in_flight, and changes nothing', async () => {
    const s = await system({
      terminals: [],
      clients: ['c1'],
      gateway: { maxInFlightPerClient: 2, commandTimeoutMs: 60_000 },
    });
    // The terminal holds every command until released: orders stay in flight.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await s.startTerminalWith('t1', { apple: 10 }, { commandGate: (_cmd: Command) => held.then(() => true) });
    try {
      const c = s.client('c1');
      await c.place('f1', [{ sku: 'apple', qty: 1 }]);
      await c.place('f2', [{ sku: 'apple', qty: 1 }]);
      await Promise.all([c.waitFor('f1', 'accepted'), c.waitFor('f2', 'accepted')]);
      // f1's and f2's `tx` records (written as their prepares go out) may still be landing: count the rest.
      const settled = () => [...s.gateway.history()].filter((r) => r.type !== 'tx').length;
      const records = settled();
      await c.place('f3', [{ sku: 'apple', qty: 1 }]);
      const err = await c.waitError((e) => e.ref === 'f3');
      expect(err.code).toBe('too_many_in_flight');
      expect(err.message).toMatch(/2 orders of this client are still in flight/);
      expect(c.state('f3')).toBeUndefined();
      expect(settled()).toBe(records);
      expect([...s.gateway.history()].filter((r) => 'orderId' in r && r.orderId === 'f3')).toEqual([]);
      // Another client is not affected by c1's count.
      await s.provision('c2', 'client');
      const c2 = await s.connectClient('c2');
      await c2.place('g1', [{ sku: 'apple', qty: 1 }]);
      await c2.waitFor('g1', 'accepted');

      release();
      await Promise.all([c.waitFor('f1', 'confirmed'), c.waitFor('f2', 'confirmed')]);
      await c.place('f3', [{ sku: 'apple', qty: 1 }]);
      await c.waitFor('f3', 'confirmed');
    } finally {
      release();
    }
  });
});

describe('auth backoff', () => {
  it('after failed logins a username, then an address, backs off; others are not affected', async () => {
    const s = await system({
      terminals: [],
      clients: ['c0'],
      gateway: {
        authBackoff: {
          ...DEFAULT_AUTH_BACKOFF,
          usernameFailures: 2,
          addressUsernames: 5,
          baseMs: 60_000,
          maxMs: 60_000,
        },
      },
    });
    await s.provision('c1', 'client');
    await s.provision('c2', 'client');
    const bad = (u: string) =>
      connectMqttAsync(s.url, { clientId: `${u}-x`, username: u, password: 'wrong', reconnectPeriod: 0 });
    await expect(bad('c1')).rejects.toThrow(/Bad username or password/);
    await expect(bad('c1')).rejects.toThrow(/Bad username or password/);
    // Now even the right password waits.
    const backoff = nextSecurity(s.gateway, 'auth_backoff', (e) => e.username === 'c1');
    await expect(connect(s, 'c1', 'c1-y')).rejects.toThrow(/Not authorized/);
    expect((await backoff).retryInMs).toBeGreaterThan(50_000);
    // Another identity from the same address is fine.
    const c2 = await connect(s, 'c2', 'c2-y');
    await c2.endAsync();

    // Many usernames failing from one address: the address backs off (c1 counted already).
    for (const u of ['x1', 'x2', 'x3', 'x4'])
      await expect(bad(u)).rejects.toThrow(/Bad username or password/);
    const addr = nextSecurity(s.gateway, 'auth_backoff', (e) => e.username === 'c2');
    await expect(connect(s, 'c2', 'c2-z')).rejects.toThrow(/Not authorized/);
    await addr;
    expect(s.gateway.mqttBroker!.backoffEntries).toBeLessThanOrEqual(10);
  });
});

describe('a slow consumer', () => {
  it('is disconnected after the drain timeout and never stalls the others', async () => {
    const s = await system({ terminals: [], clients: ['c1'], gateway: { drainTimeoutMs: 300 } });
    await s.provision('tz', 'terminal');
    const topic = 'stockgate/terminals/tz/inventory';
    // The slow one subscribes, then stops reading its socket.
    const slow = await RawClient.connected(s.gateway.ports.mqtt, {
      clientId: 'operator-slow',
      username: 'operator',
      password: PASSWORD,
    });
    slow.send(subscribePacket(1, [topic]));
    await slow.waitFor(() => slow.of(9).length === 1);
    slow.socket.pause();

    const fast = await connect(s, 'operator', 'operator-fast');
    await fast.subscribeAsync(topic, { qos: 1 });
    let got = 0;
    fast.on('message', () => {
      got++;
    });
    const terminal = await connect(s, 'tz', 'tz');
    const cut = nextSecurity(s.gateway, 'drain_timeout', (e) => e.clientId === 'operator-slow', 20_000);
    // 100 x 200 KB: far more than the socket buffers of the paused reader hold.
    const N = 100;
    const body = Buffer.alloc(200 * 1024, 0x20);
    for (let i = 0; i < N; i++) await terminal.publishAsync(topic, body, { qos: 1 });
    await cut;
    await until(emitter(fast), 'message', () => got === N, 20_000, `the fast subscriber to get all ${N}`);
    await Promise.all([terminal.endAsync(), fast.endAsync()]);
    slow.end();
  });
});
