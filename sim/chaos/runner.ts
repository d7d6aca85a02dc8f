/**
 * A chaos run, Jepsen style: a real gateway process (so it can be killed -9 and restarted by its
 * supervisor), a fleet of terminals, a fleet of recording clients, and a nemesis following a
 * seeded plan. After the run: heal, wait for quiescence, read every terminal and the journal,
 * write the history, and check every invariant.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { check, type JournalEntry, type Verdict } from '../../analysis/checker/index.ts';
import type { FinalRead, FinalTerminal, HistoryLine } from '../../analysis/history.ts';
import { ensureDemoCredentials } from '../../gateway/auth/demo.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { SupervisedChild } from '../../lib/supervisor.ts';
import { Inventory, type OrderState, parsePayload, Topics } from '../../protocol/index.ts';
import { ClientFleet, type ClientRecord } from '../clientFleet.ts';
import { TerminalFleet } from '../terminalFleet.ts';
import { type FaultClass, planFaults } from './schedule.ts';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  faults: FaultClass[];
  terminals: number;
  clients: number;
  rate: number;
  skus: number;
  dataDir: string;
  /** How long to wait for quiescence after healing. */
  settleMs?: number;
  onProgress?: (p: ChaosProgress) => void;
}

export interface ChaosProgress {
  elapsedMs: number;
  phase: 'running' | 'healing' | 'checking';
  placed: number;
  final: number;
  faults: number;
  gatewayRestarts: number;
}

export interface ChaosResult {
  verdict: Verdict;
  historyFile: string;
  orders: { placed: number; byState: Record<string, number>; unresolved: number };
  faults: {
    injected: number;
    byClass: Record<string, number>;
    gatewayRestarts: number;
    terminalCrashes: number;
  };
  quiescent: boolean;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  mkdirSync(opts.dataDir, { recursive: true });
  const started = Date.now();
  const history: HistoryLine[] = [];
  const stamp = () => ({ time: Date.now() - started, wall: Date.now() });
  const terminalIds = Array.from({ length: opts.terminals }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
  history.push({
    ...stamp(),
    type: 'meta',
    seed: opts.seed,
    faults: opts.faults,
    terminals: opts.terminals,
    clients: opts.clients,
    durationMs: opts.durationMs,
  });

  const creds = await ensureDemoCredentials(opts.dataDir, {
    clients: Math.min(opts.clients, 20),
    terminals: terminalIds,
  });
  // The gateway binds port 0 and says which ports it got (no race with other processes for a
  // "free" port); its restarts after a crash reuse them, so every client finds it again.
  const env: Record<string, string> = {
    STOCKGATE_DATA_DIR: opts.dataDir,
    STOCKGATE_MQTT_PORT: '0',
    STOCKGATE_WS_PORT: '0',
    STOCKGATE_HTTP_PORT: '0',
    STOCKGATE_MQTTS_PORT: '0',
    STOCKGATE_WSS_PORT: '0',
    STOCKGATE_NEMESIS_SEED: String(opts.seed),
    STOCKGATE_LOG_LEVEL: process.env.STOCKGATE_LOG_LEVEL ?? 'warn',
  };
  const gateway = new SupervisedChild({
    name: 'gateway',
    args: ['gateway'],
    env,
    logFile: join(opts.dataDir, 'logs', 'gateway.log'),
    prebuilt: true,
    restart: true,
  });
  let gatewayUp = false;
  gateway.on('ready', () => {
    gatewayUp = true;
  });
  gateway.on('exit', () => {
    gatewayUp = false;
  });
  const ready = (await gateway.start()) as {
    ports: { mqtt: number; ws: number; http: number; mqtts?: number; wss?: number };
  };
  const ports = ready.ports;
  env.STOCKGATE_MQTT_PORT = String(ports.mqtt);
  env.STOCKGATE_WS_PORT = String(ports.ws);
  env.STOCKGATE_HTTP_PORT = String(ports.http);
  env.STOCKGATE_MQTTS_PORT = String(ports.mqtts ?? 0);
  env.STOCKGATE_WSS_PORT = String(ports.wss ?? 0);
  const url = `mqtt://127.0.0.1:${ports.mqtt}`;

  const terminals = new TerminalFleet({
    url,
    terminals: creds.terminals,
    dataDir: join(opts.dataDir, 'terminals'),
    skus: opts.skus,
    maxReplicas: 3,
    initialStock: [5, 25],
    pickDelayMs: [50, 600],
    restockBelow: 4,
    restockAmount: 15,
    seed: opts.seed,
  });
  await terminals.start();

  // The operator's eye: every inventory any terminal publishes, checked as it arrives.
  const topics = new Topics();
  const observer = await connectMqttAsync(url, {
    clientId: `${creds.operator.username}-chaos`,
    username: creds.operator.username,
    password: creds.operator.password,
    reconnectPeriod: 200,
  });
  const observed = new Map<string, { count: number; bad: Inventory[] }>();
  observer.on('message', (topic, payload) => {
    const t = topics.parse(topic);
    if (t?.family !== 'terminal' || t.kind !== 'inventory') return;
    const parsed = parsePayload(Inventory, payload);
    if (!parsed.ok) return;
    const o = observed.get(t.tid) ?? { count: 0, bad: [] };
    o.count++;
    const negative = Object.values(parsed.value.items).some(
      (i) => i.onHand < 0 || i.reserved < 0 || i.committed < 0 || i.onHand - i.reserved - i.committed < 0,
    );
    if (negative && o.bad.length < 100) o.bad.push(parsed.value);
    observed.set(t.tid, o);
  });
  // The gateway's own statistics, to check they agree with its journal.
  let summary: { at: number; since?: number; orders: Record<string, number> } | null = null;
  observer.on('message', (topic, payload) => {
    if (topic !== topics.statsSummary()) return;
    try {
      summary = JSON.parse(payload.toString()) as typeof summary;
    } catch {
      // ignored: the checker reports missing statistics
    }
  });
  await observer.subscribeAsync([topics.allTerminals('inventory'), topics.statsSummary()], { qos: 1 });

  const has = (c: FaultClass) => opts.faults.includes(c);
  const clients = new ClientFleet({
    url,
    clients: creds.clients,
    connections: opts.clients,
    ratePerS: opts.rate,
    lines: [1, 3],
    qty: [1, 3],
    seed: opts.seed,
    skus: Array.from({ length: opts.skus }, (_, i) => `sku-${String(i + 1).padStart(4, '0')}`),
    resendMs: 1000,
    queryAfterMs: 2000,
    cancelShare: 0.05,
    faults: {
      disconnect: has('client-disconnect') ? 0.03 : 0,
      storm: has('client-storm') ? 0.05 : 0,
      cancelRace: has('cancel-race') ? 0.1 : 0,
      malformed: has('malformed') ? 0.03 : 0,
    },
    record: (r: ClientRecord) => history.push({ ...stamp(), ...r } as HistoryLine),
    runId: `s${opts.seed}`,
  });
  await clients.start();

  // The nemesis.
  const plan = planFaults({
    seed: opts.seed,
    durationMs: opts.durationMs,
    classes: opts.faults,
    terminals: terminalIds,
  });
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  let injected = 0;
  const byClass: Record<string, number> = {};
  const publishFault = (client: MqttClient, target: string, payload: Record<string, unknown>) =>
    client.publish(`${topics.base}/faults/${target}`, JSON.stringify(payload), { qos: 1 });
  for (const f of plan) {
    later(f.at, () => {
      injected++;
      byClass[f.faultClass] = (byClass[f.faultClass] ?? 0) + 1;
      const { kind, ...params } = f.payload;
      history.push({
        ...stamp(),
        type: 'start',
        process: 'nemesis',
        target: f.target,
        kind: String(kind),
        params,
      });
      publishFault(observer, f.target, f.payload);
      const stop = () =>
        history.push({ ...stamp(), type: 'stop', process: 'nemesis', target: f.target, kind: String(kind) });
      // A gateway crash ends when the gateway is back; any other fault after its duration.
      if (f.target === 'gateway') gateway.once('ready', stop);
      else later(f.durationMs, stop);
    });
  }
  const progress = setInterval(() => {
    const s = clients.stats();
    opts.onProgress?.({
      elapsedMs: Date.now() - started,
      phase: 'running',
      placed: s.placed,
      final: s.placed - s.inFlight,
      faults: injected,
      gatewayRestarts: gateway.restarts,
    });
  }, 500);

  await new Promise<void>((resolve) => later(opts.durationMs, resolve));

  // Heal and settle.
  clients.pause();
  for (const t of timers) clearTimeout(t);
  timers.clear();
  await waitFor(() => gatewayUp, 30_000);
  for (const tid of terminalIds) {
    publishFault(observer, `terminals/${tid}`, { kind: 'heal' });
    publishFault(observer, `links/${tid}`, { kind: 'heal' });
  }
  history.push({ ...stamp(), type: 'stop', process: 'nemesis', target: 'all', kind: 'heal' });
  const settleMs = opts.settleMs ?? 60_000;
  const quiescent =
    (await waitFor(() => clients.inFlight() === 0, settleMs)) &&
    (await waitFor(
      async () => {
        if (!gatewayUp) return false;
        const health = await fetch(`http://127.0.0.1:${ports.http}/healthz`).then(
          (r) =>
            r.json() as Promise<{ openTransactions: number; orders: { byState: Record<string, number> } }>,
          () => null,
        );
        const reserved = terminals.terminals.every((t) => {
          try {
            return t.ledger.skus().every((s) => t.ledger.item(s)!.reserved === 0);
          } catch {
            return false; // restarting
          }
        });
        return (
          health !== null &&
          health.openTransactions === 0 &&
          (health.orders.byState.accepted ?? 0) === 0 &&
          reserved
        );
      },
      Math.min(30_000, settleMs),
    ));
  clearInterval(progress);
  opts.onProgress?.({
    elapsedMs: Date.now() - started,
    phase: 'checking',
    placed: clients.stats().placed,
    final: clients.stats().placed - clients.inFlight(),
    faults: injected,
    gatewayRestarts: gateway.restarts,
  });
  // A summary published after quiescence has the final counts.
  const quietAt = Date.now();
  await waitFor(() => summary !== null && summary.at > quietAt + 100, 5000);
  for (const u of clients.unresolved()) {
    history.push({
      ...stamp(),
      type: 'info',
      process: u.process,
      f: 'place',
      orderId: u.orderId,
      ...(u.state ? { state: u.state } : {}),
    });
  }
  const clientStats = clients.stats();
  await clients.stop();

  // Final reads: every terminal's ledger, then the journal once the gateway has stopped.
  const finalTerminals: Record<string, FinalTerminal> = {};
  for (const t of terminals.terminals) {
    const tally = terminals.tallies.get(t.id)!;
    let snapshot: ReturnType<typeof t.ledger.snapshot>;
    try {
      snapshot = t.ledger.snapshot();
    } catch {
      continue;
    }
    finalTerminals[t.id] = {
      inventory: { seq: snapshot.seq, items: snapshot.items },
      initial: tally.initial,
      restocked: tally.restocked,
      picked: tally.picked,
      counted: tally.counted,
      txs: Object.fromEntries(
        Object.entries(snapshot.txs).map(([tx, r]) => [tx, { status: r.status, lines: r.lines }]),
      ),
      observed: observed.get(t.id)?.bad ?? [],
      observedCount: observed.get(t.id)?.count ?? 0,
    };
  }
  await terminals.stop();
  await observer.endAsync();
  await gateway.stop();

  const db = new Database(join(opts.dataDir, 'journal.sqlite'), { readonly: true });
  const journal = (db.prepare('SELECT body FROM records ORDER BY seq').all() as { body: string }[]).map(
    (r) => JSON.parse(r.body) as JournalEntry,
  );
  const orders: FinalRead['orders'] = {};
  for (const row of db
    .prepare('SELECT cid, order_id, state, tx, allocation FROM orders')
    .iterate() as Iterable<{
    cid: string;
    order_id: string;
    state: OrderState;
    tx: string | null;
    allocation: string | null;
  }>) {
    orders[`${row.cid}/${row.order_id}`] = {
      cid: row.cid,
      state: row.state,
      ...(row.tx ? { tx: row.tx } : {}),
      ...(row.allocation ? { allocation: JSON.parse(row.allocation) } : {}),
    };
  }
  const txOrders: Record<string, string> = {};
  for (const row of db.prepare('SELECT tx, cid, order_id FROM txs').iterate() as Iterable<{
    tx: string;
    cid: string;
    order_id: string;
  }>) {
    txOrders[row.tx] = `${row.cid}/${row.order_id}`;
  }
  db.close();
  const stats = summary as { at: number; since?: number; orders: Record<string, number> } | null;
  history.push({
    ...stamp(),
    type: 'final',
    terminals: finalTerminals,
    orders,
    txOrders,
    ...(stats ? { stats: stats.orders, ...(stats.since ? { statsSince: stats.since } : {}) } : {}),
  });

  const historyFile = join(opts.dataDir, 'history.jsonl');
  writeFileSync(historyFile, `${history.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const verdict = check({ history, journal });
  return {
    verdict,
    historyFile,
    orders: { placed: clientStats.placed, byState: clientStats.byState, unresolved: clientStats.inFlight },
    faults: { injected, byClass, gatewayRestarts: gateway.restarts, terminalCrashes: terminals.crashes },
    quiescent,
  };
}

/** Re-checks `predicate` every 100 ms until it holds or `timeoutMs` passes. */
async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
