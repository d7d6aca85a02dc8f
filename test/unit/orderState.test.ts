import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FINAL_STATES,
  type FromState,
  isFinal,
  isValidPath,
  ORDER_EVENTS,
  ORDER_STATES,
  type OrderEvent,
  type OrderState,
  successors,
  TRANSITIONS,
  transition,
} from '../../protocol/orderState.ts';

/** The contract's machine, written out independently of the table under test. */
const EXPECTED: [FromState, OrderEvent, OrderState][] = [
  [null, 'accept', 'accepted'],
  ['accepted', 'confirm', 'confirmed'],
  ['confirmed', 'fulfil', 'fulfilled'],
  ['accepted', 'reject', 'rejected'],
  ['accepted', 'fail', 'failed'],
  ['accepted', 'cancel', 'cancelled'],
  ['confirmed', 'cancel', 'cancelled'],
];

const FROM_STATES: FromState[] = [null, ...ORDER_STATES];

describe('transition', () => {
  it.each(EXPECTED)('%s --%s--> %s', (from, event, to) => {
    expect(transition(from, event)).toEqual({ ok: true, state: to });
  });

  const allowed = new Set(EXPECTED.map(([from, event]) => `${from ?? 'none'}:${event}`));
  const refused: [FromState, OrderEvent][] = [];
  for (const from of FROM_STATES) {
    for (const event of ORDER_EVENTS)
      if (!allowed.has(`${from ?? 'none'}:${event}`)) refused.push([from, event]);
  }

  it('has exactly the seven transitions of the contract', () => {
    expect(refused).toHaveLength(FROM_STATES.length * ORDER_EVENTS.length - EXPECTED.length);
    let count = 0;
    for (const event of ORDER_EVENTS) count += Object.keys(TRANSITIONS[event]).length;
    expect(count).toBe(EXPECTED.length);
  });

  it.each(refused)('refuses %s --%s-->', (from, event) => {
    const r = transition(from, event);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain(event);
      expect(r.error).toContain(from ?? 'none');
    }
  });

  it('refuses every event from every final state', () => {
    for (const from of FINAL_STATES)
      for (const event of ORDER_EVENTS) expect(transition(from, event).ok).toBe(false);
  });

  it('refuses a second accept', () => {
    expect(transition('accepted', 'accept').ok).toBe(false);
  });
});

describe('isFinal', () => {
  it.each([
    ['accepted', false],
    ['confirmed', false],
    ['fulfilled', true],
    ['rejected', true],
    ['failed', true],
    ['cancelled', true],
  ] as [OrderState, boolean][])('%s -> %s', (state, final) => {
    expect(isFinal(state)).toBe(final);
  });

  it('final states are exactly those without successors', () => {
    for (const s of ORDER_STATES) expect(isFinal(s)).toBe(successors(s).length === 0);
  });
});

describe('successors', () => {
  it.each([
    [null, ['accepted']],
    ['accepted', ['confirmed', 'rejected', 'failed', 'cancelled']],
    ['confirmed', ['fulfilled', 'cancelled']],
    ['fulfilled', []],
    ['rejected', []],
    ['failed', []],
    ['cancelled', []],
  ] as [FromState, OrderState[]][])('from %s', (from, expected) => {
    expect([...successors(from)].sort()).toEqual([...expected].sort());
  });
});

describe('isValidPath', () => {
  it.each([
    [[]],
    [['accepted']],
    [['accepted', 'confirmed', 'fulfilled']],
    [['accepted', 'rejected']],
    [['accepted', 'failed']],
    [['accepted', 'cancelled']],
    [['accepted', 'confirmed', 'cancelled']],
    // repeats of the current state are re-sent statuses
    [['accepted', 'accepted', 'accepted']],
    [['accepted', 'accepted', 'confirmed', 'confirmed', 'fulfilled', 'fulfilled']],
    [['accepted', 'cancelled', 'cancelled']],
  ] as [OrderState[]][])('accepts %j', (path) => {
    expect(isValidPath(path)).toEqual({ ok: true });
  });

  it.each([
    [['confirmed'], 0, 'none -> confirmed'],
    [['fulfilled'], 0, 'none -> fulfilled'],
    [['accepted', 'fulfilled'], 1, 'accepted -> fulfilled'],
    [['accepted', 'confirmed', 'rejected'], 2, 'confirmed -> rejected'],
    [['accepted', 'confirmed', 'failed'], 2, 'confirmed -> failed'],
    [['accepted', 'confirmed', 'accepted'], 2, 'confirmed -> accepted'],
    [['accepted', 'rejected', 'accepted'], 2, 'rejected -> accepted'],
    [['accepted', 'confirmed', 'fulfilled', 'cancelled'], 3, 'fulfilled -> cancelled'],
    [['accepted', 'cancelled', 'confirmed'], 2, 'cancelled -> confirmed'],
    [['accepted', 'failed', 'failed', 'rejected'], 3, 'failed -> rejected'],
    [['accepted', 'accepted', 'fulfilled'], 2, 'accepted -> fulfilled'],
  ] as [OrderState[], number, string][])('refuses %j at %i', (path, at, error) => {
    const r = isValidPath(path);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.at).toBe(at);
      expect(r.error).toBe(`${error} is not a transition`);
    }
  });

  it('nothing may follow a final state (property)', () => {
    const seed = Number(process.env.SEED ?? 42);
    console.log('seed', seed);
    const finalPaths: OrderState[][] = [
      ['accepted', 'rejected'],
      ['accepted', 'failed'],
      ['accepted', 'cancelled'],
      ['accepted', 'confirmed', 'cancelled'],
      ['accepted', 'confirmed', 'fulfilled'],
    ];
    const nonFinalOrOther = fc.constantFrom(...ORDER_STATES);
    fc.assert(
      fc.property(fc.constantFrom(...finalPaths), nonFinalOrOther, (path, next) => {
        const last = path[path.length - 1]!;
        const r = isValidPath([...path, next]);
        if (next === last) return r.ok;
        return !r.ok && r.at === path.length;
      }),
      { seed, numRuns: 300 },
    );
  });

  it('a path is valid iff every change of state is a transition (property)', () => {
    const seed = Number(process.env.SEED ?? 42);
    console.log('seed', seed);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ORDER_STATES), { maxLength: 8 }), (path) => {
        let current: FromState = null;
        let expectedAt = -1;
        for (let i = 0; i < path.length; i++) {
          const next = path[i]!;
          if (next === current) continue;
          const ok = ORDER_EVENTS.some((e) => {
            const r = transition(current, e);
            return r.ok && r.state === next;
          });
          if (!ok) {
            expectedAt = i;
            break;
          }
          current = next;
        }
        const r = isValidPath(path);
        return expectedAt === -1 ? r.ok : !r.ok && r.at === expectedAt;
      }),
      { seed, numRuns: 300 },
    );
  });
});
