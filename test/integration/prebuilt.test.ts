/**
 * The gateway as `stockgate start` and the chaos runner run it: from the prebuilt bundle of the CLI
 * (lib/prebuilt.ts), supervised, killed (-9) and restarted. A real client orders through it before
 * and after the restart.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDemoCredentials } from '../../gateway/auth/demo.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { prebuiltCli } from '../../lib/prebuilt.ts';
import { SupervisedChild } from '../../lib/supervisor.ts';
import { ClientError, parsePayload, Topics } from '../../protocol/index.ts';
import { gatewayEnv, ROOT, run } from '../helpers/run.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'stockgate-prebuilt-'));
const children: SupervisedChild[] = [];
const clients: MqttClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  for (const c of children) await c.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the prebuilt CLI', () => {
  it('is built once per process, inside the project, and named by its content', async () => {
    const entry = await prebuiltCli();
    expect(await prebuiltCli()).toBe(entry);
    expect(existsSync(entry)).toBe(true);
    expect(entry).toMatch(/node_modules\/\.cache\/stockgate\/cli-[0-9a-f]{16}\/stockgate\.js$/);
    // Another process bundling the same source lands on the same file.
    const other = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "const { prebuiltCli } = await import('./lib/prebuilt.ts'); process.stdout.write(await prebuiltCli());",
      ],
      { cwd: ROOT, timeoutMs: 60_000 },
    );
    expect(other.stderr).toBe('');
    expect(other.stdout).toBe(entry);
  });

  it('runs the gateway: it serves orders, and again after kill -9 and a supervised restart', async () => {
    const creds = await ensureDemoCredentials(dataDir, { clients: 1, terminals: [] });
    const env: Record<string, string> = gatewayEnv(dataDir);
    const gateway = new SupervisedChild({
      name: 'gateway',
      args: ['gateway'],
      env,
      logFile: join(dataDir, 'logs', 'gateway.log'),
      restart: true,
      prebuilt: true,
    });
    children.push(gateway);
    const ready = (await gateway.start()) as { ports: { mqtt: number } };
    // It runs from the bundle, not under tsx.
    const cmdline = () => readFileSync(`/proc/${gateway.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline()).toContain(await prebuiltCli());
    expect(cmdline().join(' ')).not.toContain('tsx');
    // The restart must find the same port (clients reconnect to it).
    env.STOCKGATE_MQTT_PORT = String(ready.ports.mqtt);
    const cred = creds.clients[0]!;
    const topics = new Topics();
    const client = await connectMqttAsync(`mqtt://127.0.0.1:${ready.ports.mqtt}`, {
      clientId: cred.username,
      username: cred.username,
      password: cred.password,
      reconnectPeriod: 100,
    });
    clients.push(client);
    await client.subscribeAsync(topics.client(cred.username, 'errors'), { qos: 1 });
    const errors: ClientError[] = [];
    const waiting = new Set<() => void>();
    client.on('message', (_topic, payload) => {
      const parsed = parsePayload(ClientError, payload);
      if (parsed.ok) errors.push(parsed.value);
      for (const w of waiting) w();
    });
    const answerTo = (orderId: string) =>
      new Promise<ClientError>((resolve) => {
        const check = () => {
          const e = errors.find((x) => x.ref === orderId);
          if (e) {
            waiting.delete(check);
            resolve(e);
          }
        };
        waiting.add(check);
        check();
      });
    const place = (orderId: string) =>
      client.publishAsync(
        topics.client(cred.username, 'place'),
        JSON.stringify({ orderId, lines: [{ sku: 'nowhere', qty: 1 }] }),
        { qos: 1 },
      );

    // No terminal stocks the SKU: the gateway's journal and intake answer that.
    await place('before');
    expect((await answerTo('before')).code).toBe('unknown_sku');

    const restarted = new Promise<void>((resolve) => gateway.once('ready', () => resolve()));
    const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    gateway.kill();
    await restarted;
    expect(gateway.restarts).toBe(1);
    expect(cmdline()).toContain(await prebuiltCli());
    await reconnected;
    await place('after');
    expect((await answerTo('after')).code).toBe('unknown_sku');
  });
});
