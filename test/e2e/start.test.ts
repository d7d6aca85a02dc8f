/**
 * `npm start` as a user runs it: the whole process tree, demo credentials generated, orders
 * flowing, Ctrl-C stops it with exit 0, and a second start resumes from the journal and ledgers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDemoCredentials } from '../../gateway/auth/demo.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { freePort } from '../../lib/ports.ts';
import { until } from '../../lib/wait.ts';
import { Inventory, Topics } from '../../protocol/index.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'stockgate-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Running {
  proc: ChildProcess;
  out: string;
  events: EventEmitter;
}

function start(env: Record<string, string>): Running {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bin/stockgate.ts',
      'start',
      '--terminals',
      '3',
      '--clients',
      '3',
      '--rate',
      '20',
      '--skus',
      '6',
    ],
    {
      env: { ...process.env, ...env, STOCKGATE_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const running: Running = { proc, out: '', events: new EventEmitter() };
  const add = (d: Buffer) => {
    running.out += d.toString();
    running.events.emit('out');
  };
  proc.stdout!.on('data', add);
  proc.stderr!.on('data', add);
  return running;
}

/** Stock of every terminal, from the retained inventory topics, once orders were committed. */
async function watchInventory(
  url: string,
  cred: { username: string; password: string },
  minCommitted: number,
) {
  const topics = new Topics();
  const client = await connectMqttAsync(url, {
    clientId: `${cred.username}-e2e`,
    username: cred.username,
    password: cred.password,
  });
  const inventories = new Map<string, Inventory>();
  const events = new EventEmitter();
  client.on('message', (topic, payload) => {
    const t = topics.parse(topic);
    if (t?.family === 'terminal' && t.kind === 'inventory') {
      inventories.set(t.tid, Inventory.parse(JSON.parse(payload.toString())));
      events.emit('inv');
    }
  });
  await client.subscribeAsync(topics.allTerminals('inventory'), { qos: 1 });
  const committedOrPicked = () => {
    let n = 0;
    for (const inv of inventories.values()) for (const item of Object.values(inv.items)) n += item.committed;
    return n;
  };
  await until(
    events,
    'inv',
    () => inventories.size === 3 && committedOrPicked() >= minCommitted,
    60_000,
    'orders committed at the terminals',
  );
  await client.endAsync();
  return inventories;
}

describe('npm start', () => {
  it('runs the system, stops on Ctrl-C with exit 0, and resumes from its data', async () => {
    const env = {
      STOCKGATE_MQTT_PORT: String(await freePort()),
      STOCKGATE_WS_PORT: String(await freePort()),
      STOCKGATE_HTTP_PORT: String(await freePort()),
      STOCKGATE_MQTTS_PORT: String(await freePort()),
      STOCKGATE_WSS_PORT: String(await freePort()),
      STOCKGATE_NODE_RED_PORT: String(await freePort()),
      STOCKGATE_LOG_LEVEL: 'warn',
    };
    const url = `mqtt://127.0.0.1:${env.STOCKGATE_MQTT_PORT}`;
    const first = start(env);
    await until(
      first.events,
      'out',
      () => first.out.includes('stockgate is running.'),
      90_000,
      'the start banner',
    );
    expect(first.out).toContain(`http://127.0.0.1:${env.STOCKGATE_HTTP_PORT}/healthz`);
    expect(first.out).toContain('demo-credentials.json');
    const credFile = join(dataDir, 'demo-credentials.json');
    expect(existsSync(credFile)).toBe(true);
    const creds = readDemoCredentials(credFile);
    expect(creds.clients.length).toBeGreaterThan(0);
    expect(creds.terminals.map((t) => t.id)).toEqual(['t01', 't02', 't03']);

    const health = (await (await fetch(`http://127.0.0.1:${env.STOCKGATE_HTTP_PORT}/healthz`)).json()) as {
      status: string;
    };
    expect(health.status).toBe('ok');
    const before = await watchInventory(url, creds.operator, 1);

    const exited = new Promise<number | null>((resolve) => first.proc.on('exit', resolve));
    first.proc.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(first.out).toContain('stopped');

    // Resume: same credentials, the ledgers carry on (seq grows, stock not re-initialised).
    const second = start(env);
    try {
      await until(
        second.events,
        'out',
        () => second.out.includes('stockgate is running.'),
        90_000,
        'the second start banner',
      );
      expect(readDemoCredentials(credFile)).toEqual(creds);
      const after = await watchInventory(url, creds.operator, 0);
      for (const [tid, inv] of before) expect(after.get(tid)!.seq, tid).toBeGreaterThanOrEqual(inv.seq);
    } finally {
      const done = new Promise<number | null>((resolve) => second.proc.on('exit', resolve));
      second.proc.kill('SIGINT');
      expect(await done).toBe(0);
    }
  }, 240_000);
});
