/**
 * The dashboard and the fault panel end to end: a real gateway and terminals (TestSystem), Node-RED
 * as a child process with stockgate's settings and flows (flows/launch.ts, as `npm start` runs it),
 * and Debian's Chromium driven by playwright-core. Screenshots go to test-artifacts/ (gitignored).
 */

import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { SupervisedChild } from '../../lib/supervisor.ts';
import { until } from '../../lib/wait.ts';
import {
  ClientError,
  type FaultsActive,
  ORDER_STATES,
  StatsSummary,
  StatsTerminal,
} from '../../protocol/index.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../flows/launch.ts', import.meta.url));

let sys: TestSystem;
let red: SupervisedChild;
let ready: Record<string, unknown>;
let base = '';
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let operator: MqttClient;
const figures: Record<string, unknown> = {};
/** Messages the operator saw, by topic (latest last). */
const heard = new Map<string, unknown[]>();
const events = new EventEmitter();

function last<T>(topic: string): T | undefined {
  return heard.get(topic)?.at(-1) as T | undefined;
}

function waitHeard<T>(topic: string, predicate: (body: T) => boolean, what: string, timeoutMs = 10_000) {
  const ok = () => (heard.get(topic) ?? []).some((b) => predicate(b as T));
  return until(events, 'heard', ok, timeoutMs, what);
}

async function metrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${sys.gateway.ports.http}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

async function expectText(widget: string, want: string, timeoutMs = 10_000): Promise<void> {
  await page.waitForFunction(
    ([sel, w]) => document.querySelector(sel!)?.textContent?.trim() === w,
    [`.${widget} .nrdb-ui-text-value`, want],
    { timeout: timeoutMs },
  );
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} (Debian's chromium) is needed`).toBe(true);
  mkdirSync(ARTIFACTS, { recursive: true });
  sys = await TestSystem.start({
    terminals: [
      { id: 't1', stock: { apple: 20, pear: 6 } },
      { id: 't2', stock: { apple: 10, kiwi: 4 } },
    ],
    clients: ['c1'],
  });
  // What `npm start` writes: Node-RED's settings read the operator from it.
  writeFileSync(
    join(sys.dataDir, 'demo-credentials.json'),
    JSON.stringify({ clients: [], operator: { username: 'operator', password: PASSWORD }, terminals: [] }),
    { mode: 0o600 },
  );
  mkdirSync(join(sys.dataDir, 'reports', 'latest'), { recursive: true });
  writeFileSync(join(sys.dataDir, 'reports', 'latest', 'index.html'), '<h1>stockgate report marker</h1>\n');

  red = new SupervisedChild({
    name: 'node-red',
    script: LAUNCHER,
    args: [],
    env: {
      STOCKGATE_DATA_DIR: sys.dataDir,
      STOCKGATE_MQTT_PORT: String(sys.gateway.ports.mqtt),
      STOCKGATE_NODE_RED_PORT: '0',
      STOCKGATE_NODE_RED_LOG_LEVEL: 'warn',
    },
    logFile: join(sys.dataDir, 'logs', 'node-red.log'),
  });
  const t0 = performance.now();
  ready = await red.start(60_000);
  figures.nodeRedReadyMs = Math.round(performance.now() - t0);
  figures.nodeRedReadyInsideMs = ready.startMs;
  figures.nodeRedRssAtReadyMB = Math.round(Number(ready.rss) / 1e6);
  base = `http://127.0.0.1:${ready.port}`;

  operator = await connectMqttAsync(sys.url, {
    clientId: 'operator-e2e',
    username: 'operator',
    password: PASSWORD,
  });
  operator.on('message', (topic, payload) => {
    const list = heard.get(topic) ?? [];
    list.push(JSON.parse(payload.toString()) as unknown);
    heard.set(topic, list);
    events.emit('heard');
  });
  await operator.subscribeAsync(['stockgate/stats/#', 'stockgate/faults/active', 'stockgate/faults/errors'], {
    qos: 1,
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  ctx = await browser.newContext({
    httpCredentials: { username: 'operator', password: PASSWORD },
    viewport: { width: 1400, height: 1000 },
  });
  page = await ctx.newPage();
}, 90_000);

afterAll(async () => {
  if (red?.pid) {
    try {
      const status = readFileSync(`/proc/${red.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      figures.nodeRedRssAfterUseMB = Math.round(kb / 1024);
    } catch {
      // gone already
    }
  }
  await browser?.close();
  await operator?.endAsync(true);
  const code = await red?.stop();
  figures.nodeRedExitCode = code;
  if (sys) {
    const log = join(sys.dataDir, 'logs', 'node-red.log');
    if (existsSync(log)) writeFileSync(join(ARTIFACTS, 'dashboard-node-red.log'), readFileSync(log));
    await sys.stop();
  }
  writeFileSync(join(ARTIFACTS, 'dashboard-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(`dashboard e2e figures: ${JSON.stringify(figures)}\n`);
}, 60_000);

describe('Node-RED as a child process', () => {
  it('serves the dashboard and the reports behind the operator identity', async () => {
    expect(Number(ready.port)).toBeGreaterThan(0);
    expect(ready.dashboard).toBe(`${base}/dashboard`);
    const auth = `Basic ${Buffer.from(`operator:${PASSWORD}`).toString('base64')}`;
    expect((await fetch(`${base}/dashboard/overview`)).status).toBe(401);
    expect((await fetch(`${base}/reports/latest/index.html`)).status).toBe(401);
    const wrong = `Basic ${Buffer.from('operator:nope').toString('base64')}`;
    expect((await fetch(`${base}/dashboard/overview`, { headers: { authorization: wrong } })).status).toBe(
      401,
    );
    const report = await fetch(`${base}/reports/latest/index.html`, { headers: { authorization: auth } });
    expect(report.status).toBe(200);
    expect(await report.text()).toContain('stockgate report marker');
  });
});

describe('the dashboard', () => {
  it('shows live numbers that agree with /metrics', async () => {
    await page.goto(`${base}/dashboard/overview`);
    await expectText('ov-terminals-online', '2 / 2', 15_000);
    expect(await page.locator('.ov-report-link a').getAttribute('href')).toBe('/reports/latest/index.html');

    const c = sys.client();
    for (let i = 1; i <= 6; i++) await c.place(`live-${i}`, [{ sku: 'apple', qty: 1 }]);
    await c.place('live-rejected', [{ sku: 'kiwi', qty: 99 }]);
    for (let i = 1; i <= 6; i++) await c.waitFor(`live-${i}`, 'confirmed');
    await c.waitFor('live-rejected', 'rejected');
    await sys.quiesce();

    const m = await metrics();
    expect(m.get('stockgate_orders_total{state="confirmed"}')).toBe(6);
    // ...and /metrics agrees with the journal (every transition since this gateway started).
    const journal = new Map<string, number>();
    for (const r of sys.gateway.history()) {
      const state = r.type === 'accepted' ? 'accepted' : r.type === 'state' ? r.state : undefined;
      if (state) journal.set(state, (journal.get(state) ?? 0) + 1);
    }
    for (const state of ORDER_STATES)
      expect(m.get(`stockgate_orders_total{state="${state}"}`), state).toBe(journal.get(state) ?? 0);
    for (const state of ORDER_STATES) {
      const want = m.get(`stockgate_orders_total{state="${state}"}`);
      expect(want, state).toBeDefined();
      await expectText(`ov-count-${state}`, String(want));
    }
    await expectText('ov-in-flight', String(m.get('stockgate_orders_in_flight')));
    await expectText(
      'ov-terminals-online',
      `${m.get('stockgate_terminals{status="online"}')} / ${m.get('stockgate_terminals{status="known"}')}`,
    );
    // The same numbers reached the operator over MQTT.
    await waitHeard<StatsSummary>(
      'stockgate/stats/summary',
      (s) => s.orders.confirmed === 6,
      'summary with 6',
    );
    StatsSummary.parse(last('stockgate/stats/summary'));
    await page.locator('.ov-chart-rates canvas').first().waitFor();
    await shot('overview');

    await page.goto(`${base}/dashboard/orders`);
    await page.locator('.or-table-recent').getByText('live-rejected').waitFor();
    await page.locator('.or-table-skus').getByText('apple').first().waitFor();
    await shot('orders');
  }, 60_000);

  it('a freeze clicked on a terminal shows in the stats and the dashboard; "heal all" restores it', async () => {
    await page.goto(`${base}/dashboard/terminals`);
    const tile = page.locator('[data-terminal="t1"]');
    await tile.waitFor();
    expect((await tile.locator('.sg-online').textContent())?.trim()).toBe('online');
    await tile.locator('.sg-act-freeze').click();

    // The terminal obeys, the gateway's statistics and the operator's stats topic show it.
    await until(
      sys.terminal('t1').faults,
      'changed',
      () => sys.terminal('t1').faults.frozen,
      10_000,
      't1 frozen',
    );
    await until(
      sys.gateway.bus,
      'faults',
      () => sys.gateway.stats?.terminalStats('t1')?.faults?.includes('freeze') === true,
      10_000,
      'the statistics to show the freeze',
    );
    await waitHeard<StatsTerminal>(
      'stockgate/stats/terminals/t1',
      (s) => s.faults?.includes('freeze') === true,
      'stats/terminals/t1 with the freeze',
    );
    await tile.locator('[data-fault="freeze"]').waitFor({ timeout: 10_000 });
    await shot('terminals-frozen');

    await page.goto(`${base}/dashboard/faults`);
    await page.locator('.ft-table-active').getByText('terminals/t1').waitFor();
    await shot('faults-in-force');
    const statsBefore = heard.get('stockgate/stats/terminals/t1')?.length ?? 0;
    await page.locator('.ft-btn-heal-all button').click();
    await until(
      sys.terminal('t1').faults,
      'changed',
      () => !sys.terminal('t1').faults.frozen,
      10_000,
      't1 healed',
    );
    await waitHeard<FaultsActive>(
      'stockgate/faults/active',
      (f) => f.faults.length === 0,
      'no faults in force',
    );
    await waitHeard<StatsTerminal>(
      'stockgate/stats/terminals/t1',
      (s) =>
        s.faults?.length === 0 && (heard.get('stockgate/stats/terminals/t1') ?? []).indexOf(s) >= statsBefore,
      'stats/terminals/t1 healed',
    );
    await page.locator('.ft-status').getByText('heal sent to').waitFor();

    await page.goto(`${base}/dashboard/terminals`);
    await tile.locator('.sg-nofault').waitFor({ timeout: 10_000 });
    expect(await tile.locator('[data-fault]').count()).toBe(0);
    // Healed for real: t1 (the only one with pears) serves again.
    await sys.client().place('after-heal', [{ sku: 'pear', qty: 1 }]);
    await sys.client().waitFor('after-heal', 'confirmed');
    await shot('terminals-healed');
  }, 60_000);

  it('the editor refuses a wrong password', async () => {
    const editor = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const p = await editor.newPage();
      await p.goto(`${base}/`);
      await p.locator('#node-dialog-login-username').fill('operator');
      await p.locator('#node-dialog-login-password').fill('not-the-password');
      const answer = p.waitForResponse((r) => r.url().endsWith('/auth/token'));
      await p.locator('#node-dialog-login-submit').click();
      expect((await answer).status()).toBeGreaterThanOrEqual(400);
      await p.locator('#node-dialog-login-failed').waitFor({ state: 'visible' });
      await p.screenshot({ path: join(ARTIFACTS, 'dashboard-editor-refused.png') });
      expect(await p.locator('#red-ui-workspace').isVisible()).toBe(false);

      // The right password opens the editor on stockgate's tabs.
      await p.locator('#node-dialog-login-password').fill(PASSWORD);
      await p.locator('#node-dialog-login-submit').click();
      await p.locator('#red-ui-workspace-tabs').getByText('Faults').waitFor({ timeout: 20_000 });
      await p.screenshot({ path: join(ARTIFACTS, 'dashboard-editor.png') });
    } finally {
      await editor.close();
    }
    // The admin API likewise.
    const token = (password: string) =>
      fetch(`${base}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: 'node-red-admin',
          grant_type: 'password',
          scope: '*',
          username: 'operator',
          password,
        }),
      });
    expect((await token('wrong')).status).toBe(403);
    expect((await token(PASSWORD)).status).toBe(200);
    expect((await fetch(`${base}/flows`)).status).toBe(401);
  }, 60_000);
});

describe('bad input', () => {
  it('refuses a stats consumer that publishes garbage on a stats topic', async () => {
    await waitHeard('stockgate/stats/summary', () => true, 'a summary');
    const identities = [
      { username: 'operator', clientId: 'operator-garbage', topic: 'stockgate/stats/summary' },
      { username: 't1', clientId: 't1-garbage', topic: 'stockgate/stats/terminals/t1' },
      { username: 'c1', clientId: 'c1-garbage', topic: 'stockgate/stats/orders' },
    ];
    for (const id of identities) {
      const bad = await connectMqttAsync(sys.url, {
        clientId: id.clientId,
        username: id.username,
        password: PASSWORD,
        reconnectPeriod: 0,
      });
      const closed = new Promise<void>((resolve) => bad.once('close', () => resolve()));
      bad.publish(id.topic, '{"garbage', { qos: 1, retain: true });
      await closed;
      bad.end(true);
    }
    // A fresh consumer gets the gateway's own retained stats, valid.
    const fresh = await connectMqttAsync(sys.url, {
      clientId: 'operator-fresh',
      username: 'operator',
      password: PASSWORD,
    });
    try {
      const got = new Map<string, string>();
      const all = new Promise<void>((resolve) =>
        fresh.on('message', (topic, payload) => {
          got.set(topic, payload.toString());
          if (['summary', 'terminals/t1', 'orders'].every((t) => got.has(`stockgate/stats/${t}`))) resolve();
        }),
      );
      await fresh.subscribeAsync('stockgate/stats/#', { qos: 0 });
      await all;
      StatsSummary.parse(JSON.parse(got.get('stockgate/stats/summary')!));
      StatsTerminal.parse(JSON.parse(got.get('stockgate/stats/terminals/t1')!));
      expect(got.get('stockgate/stats/orders')).not.toContain('garbage');
    } finally {
      await fresh.endAsync(true);
    }
  });

  it('answers a fault command with unknown parameters with an error, and changes nothing', async () => {
    const errorsBefore = heard.get('stockgate/faults/errors')?.length ?? 0;
    const activeBefore = heard.get('stockgate/faults/active')?.length ?? 0;
    await operator.publishAsync(
      'stockgate/faults/terminals/t2',
      JSON.stringify({ kind: 'freeze', bogus: 1 }),
      {
        qos: 1,
      },
    );
    await waitHeard(
      'stockgate/faults/errors',
      () => (heard.get('stockgate/faults/errors')?.length ?? 0) > errorsBefore,
      'an error for the operator',
    );
    const err = ClientError.parse(last('stockgate/faults/errors'));
    expect(err.code).toBe('invalid_payload');
    expect(err.message).toContain('bogus');
    // Nothing changed: no fault in force, the terminal not frozen, and it serves orders.
    expect(heard.get('stockgate/faults/active')?.length ?? 0).toBe(activeBefore);
    expect(sys.terminal('t2').faults.frozen).toBe(false);
    expect(sys.gateway.stats?.terminalStats('t2')?.faults).toEqual([]);
    await sys.client().place('after-bogus', [{ sku: 'kiwi', qty: 1 }]);
    await sys.client().waitFor('after-bogus', 'confirmed');
    // The panel shows the refusal too.
    await page.goto(`${base}/dashboard/faults`);
    await page.locator('.ft-last-refusal').getByText('bogus').waitFor({ timeout: 10_000 });
    await shot('faults-refusal');
  }, 30_000);
});
