/** Every bad input on the place topic gets an `errors` message, changes nothing, and the gateway keeps serving. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSystem } from '../helpers/system.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ terminals: [{ id: 't1', stock: { apple: 10 } }] });
});
afterAll(async () => {
  await sys.stop();
});

const cases: { name: string; payload: string; code: string; ref?: string }[] = [
  { name: 'malformed JSON', payload: '{"orderId": "b1", "lines": [', code: 'malformed_json' },
  {
    name: 'a wrong schema',
    payload: JSON.stringify({ orderId: 'b2', items: [] }),
    code: 'invalid_payload',
    ref: 'b2',
  },
  {
    name: 'an unknown SKU',
    payload: JSON.stringify({ orderId: 'b3', lines: [{ sku: 'durian', qty: 1 }] }),
    code: 'unknown_sku',
    ref: 'b3',
  },
  {
    name: 'a quantity of 0',
    payload: JSON.stringify({ orderId: 'b4', lines: [{ sku: 'apple', qty: 0 }] }),
    code: 'invalid_payload',
    ref: 'b4',
  },
  {
    name: 'a negative quantity',
    payload: JSON.stringify({ orderId: 'b5', lines: [{ sku: 'apple', qty: -2 }] }),
    code: 'invalid_payload',
    ref: 'b5',
  },
  {
    name: 'a fractional quantity',
    payload: JSON.stringify({ orderId: 'b6', lines: [{ sku: 'apple', qty: 1.5 }] }),
    code: 'invalid_payload',
    ref: 'b6',
  },
  {
    name: 'a payload over the size limit',
    payload: JSON.stringify({ orderId: 'b7', lines: [{ sku: 'apple', qty: 1 }], pad: 'x'.repeat(20_000) }),
    code: 'payload_too_large',
  },
  { name: 'JSON that is not an object', payload: '42', code: 'invalid_payload' },
  {
    name: 'a bad SKU name',
    payload: JSON.stringify({ orderId: 'b8', lines: [{ sku: 'a/b#', qty: 1 }] }),
    code: 'invalid_payload',
    ref: 'b8',
  },
];

describe('bad input on the place topic', () => {
  it.each(cases)('$name gets an error, changes nothing', async ({ payload, code, ref }) => {
    const c = sys.client();
    const recordsBefore = [...sys.gateway.history()].length;
    const errorsBefore = c.errors.length;
    await c.raw('place', payload);
    const err = await c.waitError((e) => c.errors.indexOf(e) >= errorsBefore);
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(0);
    if (ref) expect(err.ref).toBe(ref);
    expect([...sys.gateway.history()].length).toBe(recordsBefore);
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 0 });
  });

  it('keeps serving good orders after all of that', async () => {
    const c = sys.client();
    await c.place('good', [{ sku: 'apple', qty: 1 }]);
    await c.waitFor('good', 'confirmed');
    expect(sys.stock('t1', 'apple')).toEqual({ onHand: 10, reserved: 0, committed: 1 });
  });

  it('refuses cancel and query of unknown orders with an error', async () => {
    const c = sys.client();
    const before = c.errors.length;
    await c.raw('cancel', JSON.stringify({ orderId: 'nope' }));
    const e1 = await c.waitError((e) => c.errors.indexOf(e) >= before && e.ref === 'nope');
    expect(e1.code).toBe('unknown_order');
    await c.raw('query', '{');
    const e2 = await c.waitError((e) => e.code === 'malformed_json' && c.errors.indexOf(e) > before);
    expect(e2.code).toBe('malformed_json');
  });
});
