/**
 * `checkInventory` (the hand-written Inventory check on the gateway's hot path) must accept exactly
 * what the zod schema accepts and return what it returns. Seeded; replay with
 * STOCKGATE_FUZZ_SEED=<seed>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInventory, Inventory, parsePayload } from '../../protocol/index.ts';
import { fuzzBudget } from '../security/helpers.ts';

const { seed, runs } = fuzzBudget('checkInventory', 2000);

/** Mostly near-valid inventories, with every kind of defect mixed in. */
const count = fc.oneof(
  fc.nat(),
  fc.integer(),
  fc.constantFrom(0, 1, -1, 0.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 60, -0),
  fc.constantFrom(null, '3', true, [], {}, Number.NaN, Number.POSITIVE_INFINITY),
);
const sku = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
  fc.constantFrom('', 'a b', 'é', 'x'.repeat(65), '__proto__', 'constructor', 'toString', 'a/b'),
  fc.string(),
);
const item = fc.oneof(
  fc.record({ onHand: count, reserved: count, committed: count }),
  fc.record({ onHand: count, reserved: count, committed: count, extra: fc.anything() }),
  fc.record({ onHand: count, reserved: count }, { requiredKeys: [] }),
  fc.anything(),
);
const inventory = fc.oneof(
  fc.record({ seq: count, items: fc.dictionary(sku, item, { maxKeys: 8 }) }),
  fc.record({ seq: count, items: fc.dictionary(sku, item, { maxKeys: 8 }), more: fc.anything() }),
  fc.record({ seq: count, items: fc.anything() }, { requiredKeys: [] }),
  fc.anything(),
);

describe(`checkInventory agrees with the Inventory schema (seed ${seed})`, () => {
  it('on any JSON value: both accept with the same value, or the check defers to the schema', () => {
    fc.assert(
      fc.property(inventory, (value) => {
        // What a terminal can send is JSON: round-trip it (drops undefined, -0 becomes 0, ...).
        const text = JSON.stringify(value);
        if (text === undefined) return;
        const json = JSON.parse(text);
        const fast = checkInventory(json);
        const schema = Inventory.safeParse(json);
        if (fast !== undefined) {
          expect(schema.success).toBe(true);
          // Not toStrictEqual: its type check compares `.constructor`, which a SKU named
          // "constructor" (a valid name) turns into two equal but distinct items.
          expect(fast).toEqual(schema.data);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(schema.data));
        }
        // The check may defer (a __proto__ key), but never refuse what is valid in the common case.
        if (schema.success && !Object.hasOwn(json.items, '__proto__')) expect(fast).toBeDefined();
      }),
      { seed, numRuns: runs },
    );
  });

  it('SKUs named like Object.prototype members are items like any other (seed 1877078127 found one)', () => {
    const json = JSON.parse(
      '{"seq":0,"items":{"constructor":{"onHand":1,"reserved":0,"committed":0},"toString":{"onHand":2,"reserved":1,"committed":0}}}',
    );
    const fast = checkInventory(json);
    expect(fast).toEqual(Inventory.parse(json));
    expect(Object.keys(fast!.items)).toEqual(['constructor', 'toString']);
    expect(fast!.items.constructor).toEqual({ onHand: 1, reserved: 0, committed: 0 });
  });

  it('parsePayload gives the same result as the schema, errors included', () => {
    const valid = Buffer.from(
      JSON.stringify({ seq: 3, items: { a: { onHand: 5, reserved: 1, committed: 0 } } }),
    );
    expect(parsePayload(Inventory, valid)).toEqual({
      ok: true,
      value: { seq: 3, items: { a: { onHand: 5, reserved: 1, committed: 0 } } },
    });
    const invalid = parsePayload(
      Inventory,
      '{"seq":3,"items":{"a":{"onHand":-1,"reserved":0,"committed":0}}}',
    );
    expect(invalid).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(invalid.ok === false && invalid.message).toMatch(/^items\.a\.onHand: /);
  });
});
