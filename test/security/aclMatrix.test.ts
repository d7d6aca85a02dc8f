/**
 * The ACL matrix, role x topic family x publish or subscribe, against a real gateway with real
 * clients: mqtt.js, and Debian's mosquitto_pub/mosquitto_sub as an independent implementation.
 * The expectations are written out here, not derived from gateway/auth/acl.ts.
 *
 * A refused publish closes the connection and reaches nobody (not even the gateway); a refused
 * subscribe gets SUBACK 128. Allowed publishes carry a harmless probe payload (not JSON) that the
 * gateway's own handlers refuse.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import { run } from '../helpers/run.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';
import { emitter, nextSecurity, subscribeCodes, Tap } from './helpers.ts';

let sys: TestSystem;
let tap: Tap;

beforeAll(async () => {
  sys = await TestSystem.start({ terminals: [], clients: ['c1'] });
  await sys.provision('c9', 'client');
  await sys.provision('t9', 'terminal');
  await sys.provision('t1', 'terminal');
  tap = await Tap.on(sys.gateway, '#');
});
afterAll(async () => {
  await sys.stop();
});

type Who = 'client' | 'terminal' | 'operator';
const NAME: Record<Who, string> = { client: 'c9', terminal: 't9', operator: 'operator' };

/** [topic family, topic or filter, may publish, may subscribe] per role. */
type Row = [family: string, topic: string, pub: boolean, sub: boolean];

const B = 'stockgate';
const client = (cid: string, k: string) => `${B}/clients/${cid}/${k}`;
const terminal = (tid: string, k: string) => `${B}/terminals/${tid}/${k}`;

const common = (me: Who): Row[] => [
  // other identities of the same or another role
  ['other client', client('c1', 'orders/place'), false, false],
  ['other client', client('c1', 'orders/status'), false, false],
  ['other client', client('c1', 'errors'), false, false],
  ['other terminal', terminal('t1', 'state'), false, me === 'operator'],
  ['other terminal', terminal('t1', 'inventory'), false, me === 'operator'],
  ['other terminal', terminal('t1', 'cmd'), false, false],
  ['other terminal', terminal('t1', 'reply'), false, false],
  ['other terminal', terminal('t1', 'events'), false, false],
  ['other terminal', terminal('t1', 'inquiry'), false, false],
  ['faults of another terminal', `${B}/faults/terminals/t1`, me === 'operator', false],
  // outside the contract
  ['outside', '$SYS/broker/clients', false, false],
  ['outside', 'elsewhere/topic', false, false],
  ['outside', `${B}/unknown/topic`, false, false],
];

const MATRIX: Record<Who, Row[]> = {
  client: [
    ['own orders', client('c9', 'orders/place'), true, false],
    ['own orders', client('c9', 'orders/cancel'), true, false],
    ['own orders', client('c9', 'orders/query'), true, false],
    ['own status', client('c9', 'orders/status'), false, true],
    ['own errors', client('c9', 'errors'), false, true],
    ['terminal topics', terminal('t9', 'state'), false, false],
    ['terminal topics', terminal('t9', 'cmd'), false, false],
    ['stats', `${B}/stats/summary`, false, false],
    ['stats', `${B}/stats/terminals/t9`, false, false],
    ['faults', `${B}/faults/gateway`, false, false],
    ['faults', `${B}/faults/terminals/t9`, false, false],
    ['faults', `${B}/faults/active`, false, false],
    ['faults', `${B}/faults/errors`, false, false],
    ...common('client'),
  ],
  terminal: [
    ['own terminal', terminal('t9', 'state'), true, false],
    ['own terminal', terminal('t9', 'inventory'), true, false],
    ['own terminal', terminal('t9', 'reply'), true, false],
    ['own terminal', terminal('t9', 'events'), true, false],
    ['own terminal', terminal('t9', 'inquiry'), true, false],
    ['own commands', terminal('t9', 'cmd'), false, true],
    ['own faults', `${B}/faults/terminals/t9`, false, true],
    ['own link faults', `${B}/faults/links/t9`, false, false],
    ['client topics', client('c9', 'orders/place'), false, false],
    ['client topics', client('c9', 'orders/status'), false, false],
    ['stats', `${B}/stats/summary`, false, false],
    ['stats', `${B}/stats/terminals/t9`, false, false],
    ['faults', `${B}/faults/gateway`, false, false],
    ['faults', `${B}/faults/active`, false, false],
    ['faults', `${B}/faults/errors`, false, false],
    ...common('terminal'),
  ],
  operator: [
    ['stats', `${B}/stats/summary`, false, true],
    ['stats', `${B}/stats/terminals/t9`, false, true],
    ['terminal state', terminal('t9', 'state'), false, true],
    ['terminal inventory', terminal('t9', 'inventory'), false, true],
    ['terminal commands', terminal('t9', 'cmd'), false, false],
    ['terminal replies', terminal('t9', 'reply'), false, false],
    ['terminal events', terminal('t9', 'events'), false, false],
    ['terminal inquiries', terminal('t9', 'inquiry'), false, false],
    ['fault commands', `${B}/faults/gateway`, true, false],
    ['fault commands', `${B}/faults/terminals/t9`, true, false],
    ['fault commands', `${B}/faults/links/t9`, true, false],
    ['faults in force', `${B}/faults/active`, false, true],
    ['fault refusals', `${B}/faults/errors`, false, true],
    ['client topics', client('c9', 'orders/place'), false, false],
    ['client topics', client('c9', 'orders/status'), false, false],
    ...common('operator'),
  ],
};

/** Wildcard filters: subscribe only. */
const FILTERS: Record<Who, [string, boolean][]> = {
  client: [
    ['#', false],
    [`${B}/#`, false],
    [`${B}/clients/+/orders/status`, false],
    [`${B}/clients/c9/#`, false],
    [`${B}/clients/c9/orders/+`, false],
  ],
  terminal: [
    ['#', false],
    [`${B}/terminals/t9/#`, false],
    [`${B}/terminals/+/cmd`, false],
    [`${B}/faults/terminals/+`, false],
  ],
  operator: [
    ['#', false],
    [`${B}/stats/#`, true],
    [`${B}/terminals/+/state`, true],
    [`${B}/terminals/+/inventory`, true],
    [`${B}/terminals/+/+`, false],
    [`${B}/terminals/#`, false],
    [`${B}/faults/#`, false],
    [`${B}/faults/+`, false],
  ],
};

/** Retained publishes: only a terminal's own state and inventory. */
const RETAINED: [Who, string, boolean][] = [
  ['terminal', terminal('t9', 'state'), true],
  ['terminal', terminal('t9', 'inventory'), true],
  ['terminal', terminal('t9', 'reply'), false],
  ['terminal', terminal('t9', 'events'), false],
  ['terminal', terminal('t9', 'inquiry'), false],
  ['terminal', terminal('t1', 'state'), false],
  ['client', client('c9', 'orders/place'), false],
  ['operator', `${B}/faults/gateway`, false],
];

const publishRows = (Object.keys(MATRIX) as Who[]).flatMap((who) =>
  MATRIX[who].map(([family, topic, pub]) => ({ who, family, topic, allowed: pub, retain: false })),
);
const retainRows = RETAINED.map(([who, topic, allowed]) => ({
  who,
  family: 'retained',
  topic,
  allowed,
  retain: true,
}));
const subscribeRows = (Object.keys(MATRIX) as Who[]).flatMap((who) => [
  ...MATRIX[who].map(([family, topic, , sub]) => ({ who, family, filter: topic, allowed: sub })),
  ...FILTERS[who].map(([filter, allowed]) => ({ who, family: 'wildcard', filter, allowed })),
]);

let seq = 0;
const probe = () => `acl-probe-${++seq}`;

async function connect(who: Who, suffix: string): Promise<MqttClient> {
  return connectMqttAsync(sys.url, {
    clientId: `${NAME[who]}-${suffix}`,
    username: NAME[who],
    password: PASSWORD,
    reconnectPeriod: 0,
  });
}

describe('ACL matrix with mqtt.js', () => {
  it.each([...publishRows, ...retainRows])(
    '$who publishes $topic (retain $retain, $family) -> $allowed',
    async ({ who, topic, allowed, retain }) => {
      const c = await connect(who, `pub${++seq}`);
      const payload = probe();
      try {
        if (allowed) {
          await c.publishAsync(topic, payload, { qos: 1, retain });
          await tap.wait(topic, payload);
          expect(c.connected).toBe(true);
        } else {
          const refused = nextSecurity(sys.gateway, 'publish_refused', (e) => e.topic === topic);
          const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
          c.publish(topic, payload, { qos: 1, retain });
          await refused;
          await closed;
          expect(tap.count(topic, payload)).toBe(0);
        }
      } finally {
        await c.endAsync(true);
      }
      if (allowed && retain) {
        // Leave no retained probe behind: an empty retained message clears it.
        const clear = await connect(who, `clr${++seq}`);
        await clear.publishAsync(topic, '', { qos: 1, retain: true });
        await clear.endAsync();
      }
    },
  );

  const subscribers = new Map<Who, MqttClient>();
  afterAll(async () => {
    for (const c of subscribers.values()) await c.endAsync(true);
  });

  it.each(subscribeRows)(
    '$who subscribes $filter ($family) -> $allowed',
    async ({ who, filter, allowed }) => {
      let c = subscribers.get(who);
      if (!c) {
        c = await connect(who, 'sub');
        subscribers.set(who, c);
      }
      expect(await subscribeCodes(c, filter)).toEqual([allowed ? 1 : 128]);
      expect(c.connected).toBe(true);
    },
  );
});

describe('ACL matrix with mosquitto_pub and mosquitto_sub', () => {
  // Rows are independent (own clientId, own probe payload): run a few side by side.
  const args = (who: Who, id: string) => [
    '-h',
    '127.0.0.1',
    '-p',
    String(sys.gateway.ports.mqtt),
    '-u',
    NAME[who],
    '-P',
    PASSWORD,
    '-i',
    `${NAME[who]}-${id}`,
    '-q',
    '1',
  ];

  it.concurrent.each([...publishRows, ...retainRows])(
    'mosquitto_pub as $who on $topic (retain $retain) -> $allowed',
    async ({ who, topic, allowed, retain }) => {
      const payload = probe();
      // Captured now: `seq` moves on while other rows run, and two rows sharing a clientId would
      // take each other's connection over.
      const id = seq;
      const r = await run('mosquitto_pub', [
        ...args(who, `mp${id}`),
        '-t',
        topic,
        '-m',
        payload,
        ...(retain ? ['-r'] : []),
      ]);
      if (allowed) {
        expect(r.status, r.stderr).toBe(0);
        await tap.wait(topic, payload);
        if (retain) {
          const clear = await run('mosquitto_pub', [...args(who, `mc${id}`), '-t', topic, '-n', '-r']);
          expect(clear.status).toBe(0);
        }
      } else {
        // The broker closes the connection instead of acknowledging.
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/connection was lost/i);
        expect(tap.count(topic, payload)).toBe(0);
      }
    },
  );

  it.concurrent.each(subscribeRows)(
    'mosquitto_sub as $who on $filter -> $allowed',
    async ({ who, filter, allowed }) => {
      // -E: exit once subscribed (mosquitto 2.0 says so on stderr when the broker denied it all).
      const r = await run('mosquitto_sub', [...args(who, `ms${++seq}`), '-t', filter, '-E']);
      expect(r.status).toBe(0);
      if (allowed) expect(r.stderr).not.toMatch(/denied/i);
      else expect(r.stderr).toMatch(/All subscription requests were denied/);
    },
  );
});

describe('no delivery outside the ACL, whatever the session', () => {
  it('a persistent session keeps no denied filter: nothing foreign is queued for it offline', async () => {
    // aedes 1.2 stores every filter of a SUBSCRIBE in a persistent session, denied ones too, and
    // would queue matching messages for the next connection. The broker removes them, and checks
    // every delivery (authorizeForward) besides.
    const own = client('c9', 'orders/status');
    const foreign = client('c1', 'orders/status');
    const opts = {
      clientId: 'c9-persist',
      username: 'c9',
      password: PASSWORD,
      clean: false,
      reconnectPeriod: 0,
    };
    const first = await connectMqttAsync(sys.url, opts);
    expect(await subscribeCodes(first, [own, foreign])).toEqual([1, 128]);
    await first.endAsync();

    const broker = sys.gateway.mqttBroker!;
    await broker.publish(foreign, JSON.stringify({ orderId: 'secret', state: 'accepted', at: 1 }), {
      qos: 1,
    });
    await broker.publish(own, JSON.stringify({ orderId: 'mine', state: 'accepted', at: 1 }), { qos: 1 });

    const received: string[] = [];
    // Listen before the connection completes: the queue is delivered right after CONNACK.
    const second = connectMqtt(sys.url, opts);
    second.on('message', (topic) => received.push(topic));
    await until(
      emitter(second),
      'message',
      () => received.includes(own),
      5000,
      'the queued message of its own',
    );
    expect(received).not.toContain(foreign);
    // One more message through: had the foreign one been queued, it would have come before.
    await broker.publish(own, JSON.stringify({ orderId: 'mine2', state: 'accepted', at: 2 }), { qos: 1 });
    await until(
      emitter(second),
      'message',
      () => received.filter((t) => t === own).length >= 2,
      5000,
      'a second message',
    );
    expect(received).not.toContain(foreign);
    await second.endAsync();
  });

  it('only the gateway publishes commands, statuses and statistics', () => {
    for (const who of Object.keys(MATRIX) as Who[]) {
      for (const [, topic, pub] of MATRIX[who]) {
        if (/\/(cmd|orders\/status|errors)$|\/stats\/|\/faults\/(active|errors)$/.test(topic))
          expect(pub).toBe(false);
      }
    }
  });
});
