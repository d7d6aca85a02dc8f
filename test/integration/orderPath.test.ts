import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../lib/wait.ts';
import { TestSystem } from '../helpers/system.ts';

let sys: TestSystem | undefined;
afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

describe('the order path', () => {
  it('confirms a single-line order, then fulfils it after the pick', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 10 } }] });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 3 }]);
    await c.waitFor('o1', 'confirmed');
    expect(c.statuses.get('o1')!.map((s) => s.state)).toEqual(['accepted', 'confirmed']);
    expect(c.last('o1')!.allocation).toEqual([{ terminal: 't1', sku: 'apple', qty: 3 }]);
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 3 });

    await sys.terminal('t1').pick();
    await c.waitFor('o1', 'fulfilled');
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 7, reserved: 0, committed: 0 });
  });

  it('splits an order across terminals and fulfils it when every terminal picked', async () => {
    sys = await TestSystem.start({
      terminals: [
        { id: 't1', stock: { apple: 2, pear: 5 } },
        { id: 't2', stock: { apple: 3 } },
      ],
    });
    const c = sys.client();
    await c.place('o1', [
      { sku: 'apple', qty: 4 },
      { sku: 'pear', qty: 1 },
    ]);
    await c.waitFor('o1', 'confirmed');
    const alloc = c.last('o1')!.allocation!;
    expect(alloc.filter((a) => a.sku === 'apple').reduce((s, a) => s + a.qty, 0)).toBe(4);
    expect(new Set(alloc.map((a) => a.terminal))).toEqual(new Set(['t1', 't2']));
    expect(sys.stock('t1', 'apple')!.committed + sys.stock('t2', 'apple')!.committed).toBe(4);

    await sys.terminal('t1').pick();
    await sys.terminal('t2').pick();
    await c.waitFor('o1', 'fulfilled');
  });

  it('rejects an out-of-stock order with no stock effect', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 2 } }] });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 3 }]);
    await c.waitFor('o1', 'rejected');
    expect(c.last('o1')!.reason).toBe('out_of_stock');
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 2, reserved: 0, committed: 0 });
  });

  it('gives exactly 10 confirmed and 40 rejected for 50 concurrent orders of the last 10 units', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 10 } }] });
    const c = sys.client();
    const ids = Array.from({ length: 50 }, (_, i) => `o${i}`);
    await Promise.all(ids.map((id) => c.place(id, [{ sku: 'apple', qty: 1 }])));
    await Promise.all(ids.map((id) => c.waitFor(id, ['confirmed', 'rejected'])));
    const states = ids.map((id) => c.state(id));
    expect(states.filter((s) => s === 'confirmed')).toHaveLength(10);
    expect(states.filter((s) => s === 'rejected')).toHaveLength(40);
    await sys.quiesce();
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 10 });
  });

  it('makes one order of a duplicated place', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 10 } }] });
    const c = sys.client();
    await Promise.all([c.place('o1', [{ sku: 'apple', qty: 2 }]), c.place('o1', [{ sku: 'apple', qty: 2 }])]);
    await c.waitFor('o1', 'confirmed');
    await sys.quiesce();
    // A re-send is answered with where the order stands, not with a new order.
    const before = c.statuses.get('o1')!.length;
    await c.place('o1', [{ sku: 'apple', qty: 2 }]);
    await until(c, 'status', () => c.statuses.get('o1')!.length > before, 5000, 're-sent status');
    expect(
      c.statuses
        .get('o1')!
        .slice(before)
        .map((s) => s.state),
    ).toEqual(['confirmed']);
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 2 });
    const accepted = [...sys.gateway.history()].filter((r) => r.type === 'accepted');
    expect(accepted).toHaveLength(1);
  });

  it('returns the stock when an order is cancelled after confirm', async () => {
    sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 5 } }] });
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 2 }]);
    await c.waitFor('o1', 'confirmed');
    expect(sys.stock('t1', 'apple')!.committed).toBe(2);
    await c.cancel('o1');
    await c.waitFor('o1', 'cancelled');
    expect(c.statuses.get('o1')!.map((s) => s.state)).toEqual(['accepted', 'confirmed', 'cancelled']);
    await sys.quiesce();
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 5, reserved: 0, committed: 0 });
  });
});
