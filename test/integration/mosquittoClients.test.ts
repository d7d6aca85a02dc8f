/** Debian's mosquitto clients, an MQTT implementation independent of ours, drive the gateway. */
import { spawn, spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/run.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 5 } }], clients: ['c1', 'm1'] });
});
afterAll(async () => {
  await sys.stop();
});

describe('mosquitto_pub and mosquitto_sub', () => {
  it('are installed (.ci/run installs mosquitto-clients)', () => {
    expect(spawnSync('mosquitto_pub', ['--help']).error).toBeUndefined();
  });

  it('place an order and see it accepted and confirmed', async () => {
    const port = String(sys.gateway.ports.mqtt);
    const common = ['-h', '127.0.0.1', '-p', port, '-u', 'm1', '-P', PASSWORD, '-q', '1'];
    const subscribed = new Promise<void>((resolve) => {
      const on = (e: { clientId: string }) => {
        if (e.clientId === 'm1-sub') {
          sys.gateway.bus.off('subscribed', on);
          resolve();
        }
      };
      sys.gateway.bus.on('subscribed', on);
    });
    const sub = spawn('mosquitto_sub', [
      ...common,
      '-i',
      'm1-sub',
      '-t',
      sys.topics.client('m1', 'status'),
      '-C',
      '2',
      '-W',
      '20',
    ]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // mosquitto_sub prints nothing when subscribed; wait until the broker has its subscription.
    await subscribed;
    const order = JSON.stringify({ orderId: 'mq1', lines: [{ sku: 'apple', qty: 2 }] });
    const pub = await run('mosquitto_pub', [
      ...common,
      '-i',
      'm1-pub',
      '-t',
      sys.topics.client('m1', 'place'),
      '-m',
      order,
    ]);
    expect(pub.status).toBe(0);
    const code = await new Promise<number | null>((resolve) => sub.on('exit', resolve));
    expect(code).toBe(0);
    const states = out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { state: string }).state);
    expect(states).toEqual(['accepted', 'confirmed']);
    expect(sys.stock('t1', 'apple')!.committed).toBe(2);
  });

  it('is refused with a wrong password', async () => {
    const port = String(sys.gateway.ports.mqtt);
    const r = await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      port,
      '-u',
      'm1',
      '-P',
      'wrong',
      '-i',
      'm1-x',
      '-t',
      'stockgate/clients/m1/orders/place',
      '-m',
      '{}',
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not authori[sz]ed|bad user name or password|refused/i);
  });
});
