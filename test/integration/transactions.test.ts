/**
 * The order path when terminals misbehave and the gateway restarts: a deterministic first version
 * of what the chaos runs check under seeded faults.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import type { Command } from '../../protocol/index.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

let sys: TestSystem | undefined;
afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

/** A gate that holds every command until opened. */
function heldGate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const seen: Command[] = [];
  const gate = (cmd: Command) => {
    seen.push(cmd);
    return opened.then(() => true);
  };
  return { gate, open, seen };
}

describe('transactions', () => {
  it('returns the stock when an order is cancelled before confirm', async () => {
    sys = await TestSystem.start({ terminals: [] });
    const held = heldGate();
    await sys.startTerminalWith('t1', { apple: 5 }, { commandGate: held.gate });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 2 }]);
    await c.waitFor('o1', 'accepted');
    const cancelSeen = new Promise<void>((resolve) =>
      sys!.gateway.bus.once('cancelRequested', () => resolve()),
    );
    await c.cancel('o1');
    await cancelSeen;
    held.open();
    await c.waitFor('o1', 'cancelled');
    expect(c.statuses.get('o1')!.map((s) => s.state)).toEqual(['accepted', 'cancelled']);
    await sys.quiesce();
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 5, reserved: 0, committed: 0 });
    expect(held.seen.map((cmd) => cmd.op)).toEqual(['prepare', 'abort']);
  });

  it('never allocates to an offline terminal', async () => {
    sys = await TestSystem.start({
      terminals: [
        { id: 't1', stock: { apple: 10 } },
        { id: 't2', stock: { apple: 10 } },
      ],
    });
    const commandsTo = new Set<string>();
    sys.gateway.bus.on('command', (e) => commandsTo.add(e.tid));
    sys.gateway.bus.on('commandTimeout', (e) => commandsTo.add(e.tid));
    await sys.terminal('t1').stop();
    await sys.waitTerminalOnline('t1', false);
    const c = sys.client();
    for (let i = 0; i < 5; i++) await c.place(`o${i}`, [{ sku: 'apple', qty: 2 }]);
    for (let i = 0; i < 5; i++) await c.waitFor(`o${i}`, 'confirmed');
    expect(commandsTo).toEqual(new Set(['t2']));
    for (let i = 0; i < 5; i++)
      expect(c.last(`o${i}`)!.allocation!.every((a) => a.terminal === 't2')).toBe(true);
    // Only the offline terminal could serve this one: it fails for want of terminals, untouched.
    await c.place('big', [{ sku: 'apple', qty: 5 }]);
    await c.waitFor('big', 'failed');
    expect(c.last('big')!.reason).toBe('terminals_unavailable');
    expect(commandsTo).toEqual(new Set(['t2']));
  });

  it('aborts and reallocates when a terminal never answers, leaving no reservation anywhere', async () => {
    sys = await TestSystem.start({ terminals: [] });
    const held = heldGate();
    // t1 is the better-stocked terminal, so it is tried first, and it answers nothing.
    await sys.startTerminalWith('t1', { apple: 20 }, { commandGate: held.gate });
    await sys.startTerminal('t2', { apple: 10 });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 4 }]);
    await c.waitFor('o1', 'confirmed');
    expect(c.last('o1')!.allocation).toEqual([{ terminal: 't2', sku: 'apple', qty: 4 }]);
    expect(held.seen.some((cmd) => cmd.op === 'prepare')).toBe(true);
    // The late prepare and the abort now reach t1: it must end with nothing reserved.
    held.open();
    await sys.quiesce();
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 20, reserved: 0, committed: 0 });
    expect(sys.stock('t2', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 4 });
  });

  it('fails the order when the only terminal never answers', async () => {
    sys = await TestSystem.start({ terminals: [] });
    // A terminal that says it is online with stock, and then never answers a command.
    await sys.provision('t9', 'terminal');
    const silent = await connectMqttAsync(sys.url, { clientId: 't9', username: 't9', password: PASSWORD });
    await silent.subscribeAsync(sys.topics.terminal('t9', 'cmd'), { qos: 1 });
    const state = { state: 'online', board: 'virtual', firmware: 'silent', skus: ['apple'] };
    await silent.publishAsync(sys.topics.terminal('t9', 'state'), JSON.stringify(state), {
      qos: 1,
      retain: true,
    });
    const inv = { seq: 1, items: { apple: { onHand: 10, reserved: 0, committed: 0 } } };
    await silent.publishAsync(sys.topics.terminal('t9', 'inventory'), JSON.stringify(inv), {
      qos: 1,
      retain: true,
    });
    await until(sys.gateway.bus, 'inventory', () => sys!.gateway.view.isOnline('t9'), 5000, 't9 online');
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 1 }]);
    await c.waitFor('o1', 'failed');
    expect(c.last('o1')!.reason).toBe('terminals_unavailable');
    await silent.endAsync(true);
  });

  it('resolves every accepted order and conserves stock when the gateway restarts mid-load', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 30, pear: 30 } }] });
    // t2 holds its commands, so transactions are surely in flight when the gateway goes down.
    const held = heldGate();
    await sys.startTerminalWith('t2', { apple: 30, plum: 30 }, { commandGate: held.gate });
    for (const t of sys.terminals.values()) t.on('committed', (tx) => void t.pick(tx));
    const c = sys.client();
    const skus = ['apple', 'pear', 'plum'];
    const orders = Array.from({ length: 60 }, (_, i) => ({
      id: `o${i}`,
      lines: [{ sku: skus[i % 3]!, qty: 1 + (i % 4) }],
    }));
    const final = ['fulfilled', 'rejected', 'failed'] as const;
    for (const o of orders.slice(0, 30)) await c.place(o.id, o.lines);
    // Restart once some orders are under way.
    await until(
      c,
      'status',
      () => [...c.statuses.values()].some((s) => s.at(-1)!.state === 'confirmed'),
      10_000,
      'a confirm',
    );
    await until(c, 'status', () => held.seen.some((cmd) => cmd.op === 'prepare'), 10_000, 'a prepare at t2');
    await sys.restartGateway();
    expect(sys.gateway.recovery.openOrders).toBeGreaterThan(0);
    expect(sys.gateway.recovery.openTxs).toBeGreaterThan(0);
    held.open();
    for (const o of orders.slice(30)) await c.place(o.id, o.lines);
    // Clients re-send `place` until they see a final state, as the simulator does.
    const resend = setInterval(() => {
      for (const o of orders)
        if (!final.includes(c.state(o.id) as never)) void c.place(o.id, o.lines).catch(() => undefined);
    }, 500);
    try {
      await Promise.all(orders.map((o) => c.waitFor(o.id, [...final], 30_000)));
    } finally {
      clearInterval(resend);
    }
    await sys.quiesce();
    // Conservation: every unit that left a shelf belongs to a fulfilled order's allocation.
    const picked = new Map<string, number>();
    for (const o of orders) {
      if (c.state(o.id) !== 'fulfilled') continue;
      for (const a of c.last(o.id)!.allocation!)
        picked.set(`${a.terminal}/${a.sku}`, (picked.get(`${a.terminal}/${a.sku}`) ?? 0) + a.qty);
    }
    expect(orders.filter((o) => c.state(o.id) === 'fulfilled').length).toBeGreaterThan(0);
    const initial: Record<string, number> = { 't1/apple': 30, 't1/pear': 30, 't2/apple': 30, 't2/plum': 30 };
    for (const [key, start] of Object.entries(initial)) {
      const [tid, sku] = key.split('/') as [string, string];
      expect(sys.stock(tid, sku), key).toEqual({
        onHand: start - (picked.get(key) ?? 0),
        reserved: 0,
        committed: 0,
      });
    }
    // Every order the journal accepted reached exactly one final state.
    const finals = new Map<string, number>();
    for (const r of sys.gateway.history()) {
      if (r.type === 'state' && final.includes(r.state as never))
        finals.set(r.orderId, (finals.get(r.orderId) ?? 0) + 1);
    }
    expect([...finals.values()].every((n) => n === 1)).toBe(true);
    expect(finals.size).toBe(orders.length);
  });
});

describe('lost pick events', () => {
  it('fulfils an order whose pick happened while the gateway was down', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 5 } }] });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 2 }]);
    await c.waitFor('o1', 'confirmed');
    // The terminal crashes right after its pick: the pick event it queued while the gateway was
    // away dies with it. Only asking the terminal again can fulfil the order.
    await sys.gateway.stop();
    await sys.terminal('t1').pick();
    await sys.terminal('t1').crash();
    await sys.startGateway();
    await sys.restartTerminal('t1');
    await until(
      sys.gateway.bus,
      'orderState',
      () => sys!.gateway.orderCounts().byState.fulfilled === 1,
      15_000,
      'fulfilled',
    );
    // The client may have missed the status while it reconnected: it asks.
    await c.raw('query', JSON.stringify({ orderId: 'o1' }));
    await c.waitFor('o1', 'fulfilled');
  });
});
