/**
 * The Node-RED flows (flows/flows.json) under node-red-node-test-helper, with real MQTT: the core
 * nodes (mqtt, function, change, link, inject, comment) run for real against an in-process aedes;
 * the Dashboard 2 widgets are replaced by helper nodes with the same ids and wires, so the test
 * sees what reaches each widget and can play a widget's output (a button press, a pick).
 * What a widget then displays is computed the way the widget does (its value/valueType, its chart
 * series), from its configuration in flows.json.
 */

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, BROKER_ID, flowsJson } from '../../flows/build.ts';
import { canPublish, canSubscribe } from '../../gateway/auth/acl.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import {
  GatewayFault,
  LinkFault,
  type StatsOrders,
  type StatsSkus,
  type StatsSummary,
  type StatsTerminal,
  TerminalFault,
  Topics,
} from '../../protocol/index.ts';

const require = createRequire(import.meta.url);

type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };
interface Msg {
  payload?: unknown;
  topic?: string;
  options?: { label: string; value: string }[];
  [k: string]: unknown;
}
interface HelperNode extends EventEmitter {
  send(msg: Msg | Msg[]): void;
  receive(msg: Msg): void;
}
interface Helper {
  init(runtimePath: string): void;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown[], flow: FlowNode[], credentials?: Record<string, unknown>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): HelperNode;
}
const helper = require('node-red-node-test-helper') as Helper;
helper.init(require.resolve('node-red'));
const util = (require('@node-red/util') as { util: NodeRedUtil }).util;
interface NodeRedUtil {
  getMessageProperty(msg: unknown, expr: string): unknown;
  prepareJSONataExpression(expr: string, node: unknown): unknown;
  evaluateJSONataExpression(
    expr: unknown,
    msg: unknown,
    cb: (err: Error | null, value: unknown) => void,
  ): void;
}

const CORE_NODES = [
  require('@node-red/nodes/core/network/10-mqtt.js'),
  require('@node-red/nodes/core/function/10-function.js'),
  require('@node-red/nodes/core/function/15-change.js'),
  require('@node-red/nodes/core/common/60-link.js'),
  require('@node-red/nodes/core/common/20-inject.js'),
  require('@node-red/nodes/core/common/90-comment.js'),
];

const flows = JSON.parse(
  readFileSync(new URL('../../flows/flows.json', import.meta.url), 'utf8'),
) as FlowNode[];
const byId = new Map(flows.map((n) => [n.id, n]));
const UI_CONFIG = new Set(['ui-base', 'ui-theme', 'ui-page', 'ui-group']);
const isWidget = (n: FlowNode) => n.type.startsWith('ui-') && !UI_CONFIG.has(n.type);
const widgets = flows.filter(isWidget);
const config = (id: string) => {
  const n = byId.get(id);
  if (!n) throw new Error(`no node ${id} in flows.json`);
  return n;
};

/** The flow as the helper runs it: widgets become helper nodes (same id and wires), no UI config. */
function testFlow(): FlowNode[] {
  return flows
    .filter((n) => !UI_CONFIG.has(n.type))
    .map((n) => {
      if (!isWidget(n)) return structuredClone(n);
      const h: FlowNode = { id: n.id, type: 'helper', name: String(n.name ?? n.id), wires: n.wires ?? [] };
      for (const k of ['z', 'g', 'x', 'y']) if (n[k] !== undefined) h[k] = n[k];
      return h;
    });
}

/** What a ui-text shows for a message, evaluated as the widget does (value + valueType). */
function displayed(id: string, msg: Msg): Promise<unknown> {
  const n = config(id);
  if (n.valueType === 'msg') return Promise.resolve(util.getMessageProperty(msg, String(n.value)));
  if (n.valueType === 'jsonata') {
    const expr = util.prepareJSONataExpression(String(n.value), {});
    return new Promise((resolve, reject) =>
      util.evaluateJSONataExpression(expr, msg, (err, value) => (err ? reject(err) : resolve(value))),
    );
  }
  throw new Error(`${id}: unexpected valueType ${String(n.valueType)}`);
}

/** The series a ui-chart draws from a message (categoryType json: one per key). */
function chartSeries(id: string, msg: Msg): Record<string, unknown> {
  const n = config(id);
  expect(n.categoryType).toBe('json');
  const series = JSON.parse(String(n.category)) as string[];
  return Object.fromEntries(series.map((s) => [s, (msg.payload as Record<string, unknown>)[s]]));
}

let aedes: Aedes;
const operatorSubs = new Set<string>();
let server: Server;
let port = 0;
let client: MqttClient;
const seen = new EventEmitter();
const received = new Map<string, Msg[]>();
const commands: { topic: string; body: unknown }[] = [];

function lastTo(id: string): Msg | undefined {
  return received.get(id)?.at(-1);
}

function waitFor(id: string, predicate: (msg: Msg) => boolean = () => true, what = `a message to ${id}`) {
  const ok = () => (received.get(id) ?? []).some(predicate);
  return until(seen, 'input', ok, 5000, what).then(() => (received.get(id) ?? []).filter(predicate).at(-1)!);
}

function waitCommand(predicate: (c: { topic: string; body: unknown }) => boolean, what: string) {
  return until(seen, 'command', () => commands.some(predicate), 5000, what).then(
    () => commands.find(predicate)!,
  );
}

function publish(topic: string, body: unknown, retain = false): Promise<unknown> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return client.publishAsync(topic, payload, { qos: 1, retain });
}

beforeAll(async () => {
  aedes = await Aedes.createBroker();
  aedes.on('subscribe', (subs, c) => {
    if (c?.id !== 'operator-flows-test') return;
    for (const s of subs) operatorSubs.add(s.topic);
    seen.emit('subscribe');
  });
  server = createServer({ noDelay: true }, aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  process.env.STOCKGATE_MQTT_HOST = '127.0.0.1';
  process.env.STOCKGATE_MQTT_PORT = String(port);
  process.env.STOCKGATE_NODE_RED_CLIENT_ID = 'operator-flows-test';

  client = await connectMqttAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'flows-test' });
  client.on('message', (topic, payload) => {
    commands.push({ topic, body: JSON.parse(payload.toString()) });
    seen.emit('command');
  });
  await client.subscribeAsync(`${BASE}/faults/+`, { qos: 1 });
  await client.subscribeAsync(`${BASE}/faults/+/+`, { qos: 1 });

  const connected = new Promise<void>((resolve) =>
    aedes.on('clientReady', (c) => c.id === 'operator-flows-test' && resolve()),
  );
  await helper.startServer();
  await helper.load(CORE_NODES, testFlow(), { [BROKER_ID]: { user: 'operator', password: 'pw' } });
  for (const w of widgets) {
    helper.getNode(w.id).on('input', (msg: Msg) => {
      const list = received.get(w.id) ?? [];
      list.push(msg);
      received.set(w.id, list);
      seen.emit('input', w.id);
    });
  }
  await connected;
  // The flows subscribe once connected: wait for their subscriptions.
  await until(
    seen,
    'subscribe',
    () => operatorSubs.has(`${BASE}/faults/errors`) && operatorSubs.has(`${BASE}/stats/skus`),
    5000,
    'the flows to subscribe',
  );
});

afterAll(async () => {
  await helper.unload();
  await helper.stopServer();
  await client?.endAsync(true);
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('flows.json', () => {
  it('is what flows/build.ts generates', () => {
    expect(readFileSync(new URL('../../flows/flows.json', import.meta.url), 'utf8')).toBe(flowsJson());
  });

  it('is readable in the editor: named nodes in commented groups, wires to existing nodes', () => {
    const tabs = flows.filter((n) => n.type === 'tab');
    expect(tabs.map((t) => t.label)).toEqual(['Overview', 'Terminals', 'Orders', 'Faults']);
    for (const n of flows) {
      if (n.type === 'tab' || n.type === 'group') continue;
      expect(String(n.name ?? ''), `${n.id} (${n.type}) has a name`).not.toBe('');
      if (n.z) expect(n.g, `${n.id} is in a group`).toBeDefined();
      for (const out of n.wires ?? [])
        for (const to of out) expect(byId.has(to), `${n.id} -> ${to}`).toBe(true);
    }
    for (const g of flows.filter((n) => n.type === 'group')) {
      const members = g.nodes as string[];
      expect(
        members.some((id) => byId.get(id)?.type === 'comment'),
        `${g.id} has a comment`,
      ).toBe(true);
      for (const id of members) expect(byId.get(id)?.g).toBe(g.id);
    }
  });

  it("uses only what the operator's ACL allows", () => {
    const topics = new Topics();
    const operator = { name: 'operator', role: 'operator' as const };
    for (const n of flows.filter((x) => x.type === 'mqtt in')) {
      expect(n.broker).toBe(BROKER_ID);
      expect(canSubscribe(operator, String(n.topic), topics), String(n.topic)).toEqual({ ok: true });
    }
    // Fault commands are the only publishes (mqtt out takes its topic from the message).
    for (const target of ['gateway', 'terminals/t1', 'links/t1'])
      expect(canPublish(operator, `${BASE}/faults/${target}`, false, topics)).toEqual({ ok: true });
  });
});

const summary: StatsSummary = {
  at: 1,
  since: 0,
  orders: { accepted: 681, confirmed: 628, fulfilled: 618, rejected: 53, failed: 2, cancelled: 1 },
  open: { accepted: 3, confirmed: 7 },
  inFlight: 10,
  rates: { accepted: 5.2, confirmed: 4.9, fulfilled: 4.8, rejected: 0.3, failed: 0, cancelled: 0.1 },
  rates60s: {},
  rateWindowS: 10,
  latencyMs: {
    acceptedToConfirmed: { p50: 12, p90: 40, p99: 55, max: 60, count: 50 },
    confirmedToFulfilled: { p50: 2100, p90: 2800, p99: 2950, max: 3000, count: 48 },
    commandRtt: { p50: 3, p90: 6, p99: 9, max: 11, count: 120 },
  },
  latencyWindowS: 10,
  terminalsOnline: 3,
  terminalsKnown: 4,
  faultsActive: 2,
  refused: {},
};

describe('stats reach the right widgets', () => {
  it('overview: counts, in flight, terminals online, faults, rates and latency charts', async () => {
    await publish(`${BASE}/stats/summary`, summary, true);
    const msg = await waitFor('ov-chart-fulfil-latency');
    for (const state of ['accepted', 'confirmed', 'fulfilled', 'rejected', 'failed', 'cancelled'] as const) {
      const m = await waitFor(`ov-count-${state}`);
      expect(await displayed(`ov-count-${state}`, m), state).toBe(summary.orders[state]);
    }
    expect(await displayed('ov-in-flight', (await waitFor('ov-in-flight'))!)).toBe(10);
    expect(await displayed('ov-terminals-online', (await waitFor('ov-terminals-online'))!)).toBe('3 / 4');
    expect(await displayed('ov-faults-active', (await waitFor('ov-faults-active'))!)).toBe(2);
    expect(chartSeries('ov-chart-rates', (await waitFor('ov-chart-rates'))!)).toEqual(summary.rates);
    expect(chartSeries('ov-chart-confirm-latency', (await waitFor('ov-chart-confirm-latency'))!)).toEqual({
      p50: 12,
      p90: 40,
      p99: 55,
    });
    expect(chartSeries('ov-chart-fulfil-latency', msg)).toEqual({
      'fulfil p50': 2100,
      'fulfil p99': 2950,
      'command p50': 3,
      'command p99': 9,
    });
  });

  it('terminals: one tile per terminal, sorted, with faults, breaker and low stock; pickers learn the ids', async () => {
    const t2: StatsTerminal = {
      at: 1,
      online: false,
      breaker: 'open',
      prepareOk: 1,
      prepareFail: 2,
      timeouts: 3,
      stock: { pear: { onHand: 4, reserved: 1, committed: 1 } },
      faults: ['link:drop'],
      low: ['pear'],
    };
    const t1: StatsTerminal = {
      at: 1,
      online: true,
      breaker: 'closed',
      prepareOk: 9,
      prepareFail: 0,
      timeouts: 0,
      rttMs: { p50: 2, p90: 3, p99: 4, max: 5, count: 9 },
      stock: {
        apple: { onHand: 10, reserved: 2, committed: 3 },
        kiwi: { onHand: 0, reserved: 0, committed: 0 },
      },
      faults: ['freeze'],
      low: ['kiwi'],
    };
    await publish(`${BASE}/stats/terminals/t2`, t2);
    await publish(`${BASE}/stats/terminals/t1`, t1);
    const tiles = (await waitFor('tm-tiles', (m) => Array.isArray(m.payload) && m.payload.length === 2))!;
    expect(tiles.payload).toEqual([
      {
        tid: 't1',
        online: true,
        breaker: 'closed',
        faults: ['freeze'],
        prepareOk: 9,
        prepareFail: 0,
        timeouts: 0,
        rttP99: 4,
        stock: [
          { sku: 'apple', onHand: 10, available: 5, pct: 50, low: false },
          { sku: 'kiwi', onHand: 0, available: 0, pct: 0, low: true },
        ],
        lowCount: 1,
      },
      {
        tid: 't2',
        online: false,
        breaker: 'open',
        faults: ['link:drop'],
        prepareOk: 1,
        prepareFail: 2,
        timeouts: 3,
        rttP99: 0,
        stock: [{ sku: 'pear', onHand: 4, available: 2, pct: 50, low: true }],
        lowCount: 1,
      },
    ]);
    const picker = (await waitFor('ft-pick-terminal', (m) => m.options?.length === 2))!;
    expect(picker.options).toEqual([
      { label: 't1', value: 't1' },
      { label: 't2', value: 't2' },
    ]);
    expect(picker.payload).toBe('t1');
    expect((await waitFor('ft-pick-link', (m) => m.options?.length === 2))!.payload).toBe('t1');
  });

  it('orders: recent orders and sales and stock per SKU as table rows', async () => {
    const orders: StatsOrders = {
      at: 1,
      recent: [
        {
          cid: 'c1',
          orderId: 'o2',
          state: 'rejected',
          reason: 'out_of_stock',
          acceptedAt: 1000,
          at: 1003,
          units: 5,
          skus: ['apple'],
        },
        {
          cid: 'c2',
          orderId: 'o1',
          state: 'confirmed',
          acceptedAt: 1000,
          at: 1040,
          units: 2,
          skus: ['apple', 'pear'],
          terminals: ['t1', 't2'],
        },
      ],
    };
    await publish(`${BASE}/stats/orders`, orders);
    const rows = (await waitFor('or-table-recent'))!.payload as Record<string, unknown>[];
    expect(rows.map((r) => [r.order, r.client, r.state, r.reason, r.units, r.terminals])).toEqual([
      ['o2', 'c1', 'rejected', 'out_of_stock', 5, ''],
      ['o1', 'c2', 'confirmed', '', 2, 't1 t2'],
    ]);
    expect(rows[1]!['since accepted (ms)']).toBe(40);

    const skus: StatsSkus = {
      at: 1,
      lowStock: 3,
      skus: {
        pear: {
          sold: 1,
          returned: 0,
          fulfilled: 1,
          onHand: 2,
          reserved: 0,
          committed: 0,
          available: 2,
          terminals: 1,
          low: true,
        },
        apple: {
          sold: 7,
          returned: 1,
          fulfilled: 5,
          onHand: 20,
          reserved: 1,
          committed: 2,
          available: 17,
          terminals: 2,
          low: false,
        },
      },
    };
    await publish(`${BASE}/stats/skus`, skus);
    const skuRows = (await waitFor('or-table-skus'))!.payload as Record<string, unknown>[];
    expect(
      skuRows.map((r) => [r.sku, r.sold, r.returned, r.fulfilled, r['on hand'], r.available, r.stock]),
    ).toEqual([
      ['apple', 7, 1, 5, 20, 17, 'ok'],
      ['pear', 1, 0, 1, 2, 2, 'LOW'],
    ]);
  });

  it('faults in force and the refusals of the gateway', async () => {
    await publish(
      `${BASE}/faults/active`,
      {
        at: 1,
        faults: [
          { target: 'terminals/t1', kind: 'freeze', params: {}, since: 0 },
          { target: 'links/t2', kind: 'drop', params: { pct: 30 }, since: 0, until: 60_000 },
        ],
      },
      true,
    );
    const rows = (await waitFor('ft-table-active'))!.payload as Record<string, unknown>[];
    expect(rows.map((r) => [r.target, r.kind, r.params])).toEqual([
      ['terminals/t1', 'freeze', ''],
      ['links/t2', 'drop', 'pct=30'],
    ]);
    expect(rows[0]!.until).toBe('healed by hand');
    await publish(`${BASE}/faults/errors`, {
      ref: 'terminals/t1',
      code: 'invalid_payload',
      message: 'bogus: unknown',
    });
    const refusal = (await waitFor('ft-last-refusal'))!;
    expect(await displayed('ft-last-refusal', refusal)).toBe('terminals/t1: invalid_payload: bogus: unknown');
  });

  it('ignores garbage on a stats topic and keeps working', async () => {
    const before = received.get('ov-in-flight')?.length ?? 0;
    await publish(`${BASE}/stats/summary`, '{"not json');
    await publish(`${BASE}/stats/orders`, '[1,2');
    await publish(`${BASE}/stats/terminals/t9`, JSON.stringify({ online: 'yes' }));
    await publish(`${BASE}/stats/summary`, { ...summary, inFlight: 42 });
    const m = await waitFor('ov-in-flight', (x) => (x.payload as StatsSummary).inFlight === 42);
    // Only the valid summary got through; the bad terminal stats made no tile.
    expect(received.get('ov-in-flight')!.length).toBe(before + 1);
    expect(await displayed('ov-in-flight', m)).toBe(42);
    const tiles = lastTo('tm-tiles')!.payload as { tid: string }[];
    expect(tiles.map((t) => t.tid)).toEqual(['t1', 't2']);
  });
});

/** What each fault button sends with the panel's defaults (terminal and link picked: t2). */
const BUTTONS: Record<string, { topic: string; body: Record<string, unknown> }> = {
  'ft-btn-terminal-crash': { topic: 'terminals/t2', body: { kind: 'crash' } },
  'ft-btn-terminal-freeze': { topic: 'terminals/t2', body: { kind: 'freeze' } },
  'ft-btn-terminal-slow': { topic: 'terminals/t2', body: { kind: 'slow', ms: 500 } },
  'ft-btn-terminal-stale': { topic: 'terminals/t2', body: { kind: 'stale' } },
  'ft-btn-terminal-heal': { topic: 'terminals/t2', body: { kind: 'heal' } },
  'ft-btn-link-drop': { topic: 'links/t2', body: { kind: 'drop', pct: 20 } },
  'ft-btn-link-duplicate': { topic: 'links/t2', body: { kind: 'duplicate', pct: 20 } },
  'ft-btn-link-delay': { topic: 'links/t2', body: { kind: 'delay', ms: 200, jitterMs: 50 } },
  'ft-btn-link-reorder': { topic: 'links/t2', body: { kind: 'reorder' } },
  'ft-btn-link-partition': { topic: 'links/t2', body: { kind: 'partition' } },
  'ft-btn-link-heal': { topic: 'links/t2', body: { kind: 'heal' } },
  'ft-btn-gateway-crash': { topic: 'gateway', body: { kind: 'crash' } },
};

/** Plays a ui-button press: it sends its configured payload and topic. */
function press(id: string): void {
  const n = config(id);
  expect(n.type).toBe('ui-button');
  expect(n.payloadType).toBe('str');
  expect(n.topicType).toBe('str');
  helper.getNode(id).send({ payload: n.payload, topic: String(n.topic) });
}

/** Plays a panel control's change (dropdown pick, number input). */
function change(id: string, value: unknown): void {
  const n = config(id);
  helper.getNode(id).send({ payload: value, topic: String(n.topic) });
}

/** The next command published after the current ones. */
async function nextCommand(what: string) {
  const from = commands.length;
  await until(seen, 'command', () => commands.length > from, 5000, what);
  return commands[from]!;
}

describe('each fault control publishes the right fault command', () => {
  it('has a button for every fault kind of every target family', () => {
    const buttons = flows.filter(
      (n) => n.type === 'ui-button' && String(n.id).startsWith('ft-btn-') && n.id !== 'ft-btn-heal-all',
    );
    expect(buttons.map((b) => b.id).sort()).toEqual(Object.keys(BUTTONS).sort());
  });

  it.each(Object.entries(BUTTONS))('%s', async (id, want) => {
    change('ft-pick-terminal', 't2');
    change('ft-pick-link', 't2');
    const pending = nextCommand(`the command of ${id}`);
    press(id);
    const got = await pending;
    expect(got.topic).toBe(`${BASE}/faults/${want.topic}`);
    expect(got.body).toEqual(want.body);
    const schema =
      want.topic === 'gateway' ? GatewayFault : want.topic.startsWith('links/') ? LinkFault : TerminalFault;
    expect(schema.safeParse(got.body).success).toBe(true);
  });

  it('uses the parameters and duration the operator set', async () => {
    change('ft-pick-terminal', 't1');
    change('ft-slow-ms', 750);
    change('ft-duration-s', 30);
    let pending = nextCommand('slow with parameters');
    press('ft-btn-terminal-slow');
    expect(await pending).toEqual({
      topic: `${BASE}/faults/terminals/t1`,
      body: { kind: 'slow', ms: 750, durationMs: 30_000 },
    });
    change('ft-pick-link', 't1');
    change('ft-delay-ms', 80);
    change('ft-jitter-ms', 0);
    pending = nextCommand('delay with parameters');
    press('ft-btn-link-delay');
    expect(await pending).toEqual({
      topic: `${BASE}/faults/links/t1`,
      body: { kind: 'delay', ms: 80, jitterMs: 0, durationMs: 30_000 },
    });
    // heal never carries a duration
    pending = nextCommand('heal');
    press('ft-btn-link-heal');
    expect((await pending).body).toEqual({ kind: 'heal' });
    change('ft-duration-s', 0);
  });

  it('sends the fault buttons of a terminal tile', async () => {
    const pending = nextCommand('the tile freeze');
    helper.getNode('tm-tiles').send({ topic: 'terminals/t1', payload: { kind: 'freeze' } });
    expect(await pending).toEqual({ topic: `${BASE}/faults/terminals/t1`, body: { kind: 'freeze' } });
  });

  it('refuses a request the contract does not know, and sends nothing for it', async () => {
    const tiles = helper.getNode('tm-tiles');
    const from = commands.length;
    tiles.send({ topic: 'terminals/t1', payload: { kind: 'explode' } });
    await waitFor('ft-status', (m) => String(m.payload).includes('no fault "explode"'));
    tiles.send({ topic: 'terminals/../gateway', payload: { kind: 'crash' } });
    await waitFor('ft-status', (m) => String(m.payload).includes('terminals/../gateway'));
    tiles.send({ topic: 'links/t1', payload: { kind: 'freeze' } });
    await waitFor('ft-status', (m) => String(m.payload).includes('no fault "freeze" for "links/t1"'));
    // Unknown parameters are dropped, not sent.
    tiles.send({ topic: 'terminals/t1', payload: { kind: 'slow', ms: 100, bogus: 1 } });
    const got = await waitCommand((c) => commands.indexOf(c) >= from, 'the valid command');
    expect(commands.length - from).toBe(1);
    expect(got).toEqual({ topic: `${BASE}/faults/terminals/t1`, body: { kind: 'slow', ms: 100 } });
  });

  it('"heal all" heals every target in force and every target the panel sent a fault to', async () => {
    await waitFor('ft-table-active');
    const from = commands.length;
    press('ft-btn-heal-all');
    // faults/active has terminals/t1 and links/t2; the panel sent to gateway, terminals/t1, t2, links/t1, t2.
    const want = ['gateway', 'links/t1', 'links/t2', 'terminals/t1', 'terminals/t2'];
    await until(seen, 'command', () => commands.length - from >= want.length, 5000, 'heal commands');
    const heals = commands.slice(from);
    expect(heals.map((c) => c.topic.slice(`${BASE}/faults/`.length)).sort()).toEqual(want);
    for (const h of heals) expect(h.body).toEqual({ kind: 'heal' });
    expect(
      String((await waitFor('ft-status', (m) => String(m.payload).startsWith('heal sent')))!.payload),
    ).toContain('terminals/t1');
  });
});
