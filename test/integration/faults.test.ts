/** Fault injection through the contract: stockgate/faults/<target>, faults/active, faults/errors. */

import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

let sys: TestSystem | undefined;
let operator: MqttClient | undefined;
afterEach(async () => {
  await operator?.endAsync(true);
  await sys?.stop();
  sys = undefined;
  operator = undefined;
});

async function connectOperator(s: TestSystem) {
  const client = await connectMqttAsync(s.url, {
    clientId: 'operator-test',
    username: 'operator',
    password: PASSWORD,
  });
  const seen = new EventEmitter();
  const active: { faults: { target: string; kind: string }[] }[] = [];
  const errors: { ref?: string; code: string; message: string }[] = [];
  client.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    if (topic === s.topics.faultsActive()) active.push(body);
    if (topic === s.topics.faultErrors()) errors.push(body);
    seen.emit('msg');
  });
  await client.subscribeAsync([s.topics.faultsActive(), s.topics.faultErrors()], { qos: 1 });
  const send = (target: string, body: unknown) =>
    client.publishAsync(
      `${s.topics.base}/faults/${target}`,
      typeof body === 'string' ? body : JSON.stringify(body),
      { qos: 1 },
    );
  return { client, seen, active, errors, send };
}

describe('faults', () => {
  it('freezes a terminal until healed: orders go elsewhere, faults/active says so', async () => {
    sys = await TestSystem.start({
      terminals: [
        { id: 't1', stock: { apple: 20 } },
        { id: 't2', stock: { apple: 10 } },
      ],
    });
    const op = await connectOperator(sys);
    operator = op.client;
    await op.send('terminals/t1', { kind: 'freeze' });
    await until(
      op.seen,
      'msg',
      () => op.active.at(-1)?.faults.some((f) => f.target === 'terminals/t1' && f.kind === 'freeze') ?? false,
      5000,
      'freeze in faults/active',
    );
    await until(
      sys.terminal('t1').faults,
      'changed',
      () => sys!.terminal('t1').faults.frozen,
      5000,
      't1 frozen',
    );
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 3 }]);
    await c.waitFor('o1', 'confirmed');
    // t1 had more stock, so it was tried first; frozen, it answered nothing and t2 served.
    expect(c.last('o1')!.allocation).toEqual([{ terminal: 't2', sku: 'apple', qty: 3 }]);
    await op.send('terminals/t1', { kind: 'heal' });
    await until(op.seen, 'msg', () => op.active.at(-1)?.faults.length === 0, 5000, 'faults/active empty');
    await until(
      sys.terminal('t1').faults,
      'changed',
      () => !sys!.terminal('t1').faults.frozen,
      5000,
      't1 thawed',
    );
    await sys.quiesce();
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 20, reserved: 0, committed: 0 });
  });

  it('partitions a link and resynchronises the terminal when it heals', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 5 } }] });
    const op = await connectOperator(sys);
    operator = op.client;
    await op.send('links/t1', { kind: 'partition', durationMs: 60_000 });
    await until(
      op.seen,
      'msg',
      () => op.active.at(-1)?.faults.some((f) => f.kind === 'partition') ?? false,
      5000,
      'partition active',
    );
    // The terminal restarts during the partition: the gateway misses its announcements...
    await sys.terminal('t1').stop();
    await sys.restartTerminal('t1', 'terminal');
    // ...and reads them again when the link heals.
    await op.send('links/t1', { kind: 'heal' });
    await until(
      sys.gateway.bus,
      ['terminal', 'inventory'],
      () => sys!.gateway.view.isOnline('t1'),
      5000,
      't1 online again',
    );
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 1 }]);
    await c.waitFor('o1', 'confirmed');
  });

  it('refuses a fault command with unknown parameters, and changes nothing', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 5 } }] });
    const op = await connectOperator(sys);
    operator = op.client;
    // The retained faults/active arrives first.
    await until(op.seen, 'msg', () => op.active.length > 0, 5000, 'retained faults/active');
    const activeBefore = op.active.length;
    await op.send('terminals/t1', { kind: 'freeze', colour: 'blue' });
    await op.send('links/t1', { kind: 'drop', pct: 250 });
    await op.send('terminals/t1', { kind: 'melt' });
    await op.send('links/t1', '{not json');
    await until(op.seen, 'msg', () => op.errors.length >= 4, 5000, 'four refusals');
    expect(op.errors.map((e) => e.code)).toEqual([
      'invalid_payload',
      'invalid_payload',
      'unknown_fault',
      'malformed_json',
    ]);
    expect(op.errors.every((e) => e.ref?.endsWith('t1'))).toBe(true);
    expect(op.active.length).toBe(activeBefore);
    expect(sys.terminal('t1').faults.kinds()).toEqual([]);
    // The in-process gateway may not be killed: refused too.
    await op.send('gateway', { kind: 'crash' });
    await until(op.seen, 'msg', () => op.errors.length >= 5, 5000, 'crash refused');
    expect(op.errors.at(-1)!.code).toBe('forbidden');
  });
});
