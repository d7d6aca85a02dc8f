/** Each invariant of the checker on a tiny hand-made run: clean, then broken in exactly one way. */
import { describe, expect, it } from 'vitest';
import { check, type JournalEntry } from '../../analysis/checker/index.ts';
import type { FinalRead, HistoryLine } from '../../analysis/history.ts';
import { parseFaults, planFaults, SERVER_FAULTS } from '../../sim/chaos/schedule.ts';

const t = { time: 0, wall: 0 };

/** One order o1 of 2 apples, committed at t1 and picked; one order o2 rejected. */
function cleanRun() {
  const journal: JournalEntry[] = [
    { type: 'accepted', at: 10, cid: 'c1', orderId: 'o1' },
    {
      type: 'tx',
      at: 11,
      cid: 'c1',
      orderId: 'o1',
      tx: 'x1',
      allocation: [{ terminal: 't1', sku: 'apple', qty: 2 }],
    },
    { type: 'decision', at: 12, cid: 'c1', orderId: 'o1', tx: 'x1', decision: 'commit' },
    { type: 'state', at: 13, cid: 'c1', orderId: 'o1', state: 'confirmed', tx: 'x1' },
    { type: 'state', at: 14, cid: 'c1', orderId: 'o1', state: 'fulfilled' },
    { type: 'accepted', at: 15, cid: 'c1', orderId: 'o2' },
    { type: 'state', at: 16, cid: 'c1', orderId: 'o2', state: 'rejected' },
  ];
  const final: FinalRead = {
    ...t,
    type: 'final',
    terminals: {
      t1: {
        inventory: { seq: 5, items: { apple: { onHand: 8, reserved: 0, committed: 0 } } },
        initial: { apple: 10 },
        restocked: {},
        counted: {},
        picked: { apple: 2 },
        txs: { x1: { status: 'picked', lines: [{ sku: 'apple', qty: 2 }] } },
        observed: [],
        observedCount: 4,
      },
    },
    orders: {
      'c1/o1': {
        cid: 'c1',
        state: 'fulfilled',
        tx: 'x1',
        allocation: [{ terminal: 't1', sku: 'apple', qty: 2 }],
      },
      'c1/o2': { cid: 'c1', state: 'rejected' },
    },
    txOrders: { x1: 'c1/o1' },
    stats: { accepted: 2, confirmed: 1, fulfilled: 1, rejected: 1 },
    statsSince: 0,
  };
  const history: HistoryLine[] = [
    { ...t, type: 'observe', process: 'c1#0', orderId: 'o1', state: 'accepted' },
    { ...t, type: 'observe', process: 'c1#0', orderId: 'o1', state: 'fulfilled' },
    { ...t, type: 'observe', process: 'c1#0', orderId: 'o2', state: 'rejected' },
    final,
  ];
  return { journal, final, history };
}

function failing(run: ReturnType<typeof cleanRun>) {
  const verdict = check({ history: run.history, journal: run.journal });
  return verdict.results.filter((r) => !r.ok).map((r) => r.invariant);
}

describe('the invariant checker', () => {
  it('passes a clean run, checking every invariant', () => {
    const run = cleanRun();
    const verdict = check({ history: run.history, journal: run.journal });
    expect(verdict.ok).toBe(true);
    expect(verdict.results.map((r) => r.invariant)).toHaveLength(7);
    expect(verdict.results.every((r) => r.checked > 0 && !r.skipped)).toBe(true);
  });

  it('catches an oversell in an observed inventory', () => {
    const run = cleanRun();
    run.final.terminals.t1!.observed = [
      { seq: 3, items: { apple: { onHand: 1, reserved: 1, committed: 1 } } },
    ];
    expect(failing(run)).toEqual(['no-oversell']);
  });

  it('catches an order a client saw accepted that the journal lost', () => {
    const run = cleanRun();
    run.history.unshift({ ...t, type: 'observe', process: 'c1#0', orderId: 'ghost', state: 'accepted' });
    expect(failing(run)).toEqual(['no-lost-order']);
  });

  it('catches an order with two final states', () => {
    const run = cleanRun();
    run.journal.push({ type: 'state', at: 17, cid: 'c1', orderId: 'o2', state: 'failed' });
    run.final.stats!.failed = 1;
    expect(failing(run)).toEqual(['no-lost-order']);
  });

  it('catches a double commit of one line', () => {
    const run = cleanRun();
    run.final.terminals.t1!.txs.x1 = {
      status: 'picked',
      lines: [
        { sku: 'apple', qty: 2 },
        { sku: 'apple', qty: 2 },
      ],
    };
    expect(failing(run)).toContain('exactly-once');
  });

  it('catches a confirmed order missing its commit at one terminal', () => {
    const run = cleanRun();
    run.final.terminals.t1!.txs.x1 = { status: 'aborted', lines: [{ sku: 'apple', qty: 2 }] };
    expect(failing(run)).toContain('atomicity');
  });

  it('catches stock that does not add up', () => {
    const run = cleanRun();
    run.final.terminals.t1!.inventory.items.apple!.onHand = 9;
    expect(failing(run)).toEqual(['conservation']);
  });

  it('passes SKUs named like Object.prototype members, stocked or not', () => {
    const run = cleanRun();
    const t1 = run.final.terminals.t1!;
    const [ctor, str] = ['constructor', 'toString'] as string[];
    t1.inventory.items[ctor!] = { onHand: 3, reserved: 0, committed: 0 };
    t1.initial[ctor!] = 3;
    t1.initial[str!] = 0;
    expect(failing(run)).toEqual([]);
    t1.inventory.items[ctor!]!.onHand = 2;
    expect(failing(run)).toEqual(['conservation']);
  });

  it('catches a reservation left behind', () => {
    const run = cleanRun();
    run.final.terminals.t1!.inventory.items.apple!.reserved = 1;
    expect(failing(run)).toEqual(['conservation']);
  });

  it('catches a status sequence that is on no path', () => {
    const run = cleanRun();
    run.history.unshift({ ...t, type: 'observe', process: 'c1#0', orderId: 'o2', state: 'confirmed' });
    expect(failing(run)).toEqual(['valid-status-sequences']);
  });

  it('accepts a sequence with missed statuses (a subsequence of a path)', () => {
    const run = cleanRun();
    run.history.splice(0, 1);
    expect(failing(run)).toEqual([]);
  });

  it('catches statistics that disagree with the journal', () => {
    const run = cleanRun();
    run.final.stats!.fulfilled = 2;
    expect(failing(run)).toEqual(['statistics-agree']);
  });
});

describe('the nemesis plan', () => {
  it('is the same for the same seed, and covers every class asked for', () => {
    const opts = { seed: 42, durationMs: 20_000, classes: parseFaults('all'), terminals: ['t1', 't2'] };
    const a = planFaults(opts);
    expect(planFaults(opts)).toEqual(a);
    for (const c of SERVER_FAULTS)
      expect(
        a.some((f) => f.faultClass === c),
        c,
      ).toBe(true);
    expect(a.every((f) => f.at >= 1000 && f.at < 20_000)).toBe(true);
  });

  it('refuses an unknown fault class', () => {
    expect(() => parseFaults('freeze,melt')).toThrow(/unknown fault class 'melt'/);
  });
});
