/**
 * The panel's pure logic: state -> LCD lines and LEDs, button edges and knob -> ledger actions.
 */
import { describe, expect, it } from 'vitest';
import {
  alertKeys,
  analogToCount,
  fitLine,
  initialPanelState,
  nextChangeAt,
  type PanelAction,
  type PanelEvent,
  type PanelState,
  panelView,
  updatePanel,
} from '../../firmware/panel/panelLogic.ts';
import type { ButtonName } from '../../hardware/pinmap.ts';
import type { StockItem } from '../../protocol/index.ts';

const item = (onHand: number, reserved = 0, committed = 0): StockItem => ({ onHand, reserved, committed });

/** Applies events in order at `now`, collecting the actions. */
function run(
  state: PanelState,
  events: PanelEvent[],
  now = 0,
): { state: PanelState; actions: PanelAction[] } {
  const actions: PanelAction[] = [];
  for (const e of events) {
    const u = updatePanel(state, e, now);
    state = u.state;
    actions.push(...u.actions);
  }
  return { state, actions };
}

const click = (button: ButtonName): PanelEvent[] => [
  { type: 'button', button, edge: 'down' },
  { type: 'button', button, edge: 'up' },
];

const hold = (button: ButtonName, repeats = 1): PanelEvent[] => [
  { type: 'button', button, edge: 'down' },
  ...Array.from({ length: repeats }, () => ({ type: 'button', button, edge: 'hold' }) as PanelEvent),
  { type: 'button', button, edge: 'up' },
];

function base(config: Partial<Parameters<typeof initialPanelState>[0]> = {}): PanelState {
  return run(initialPanelState({ id: 't01', ...config }, 0), [
    { type: 'connection', connection: 'online' },
    { type: 'ledger', items: { apple: item(20), pear: item(30) }, picks: [] },
  ]).state;
}

describe('panel display', () => {
  it('shows the terminal id and its connection on row 0, always 16 characters', () => {
    let s = initialPanelState({ id: 't01' }, 0);
    expect(panelView(s, 0).lines[0]).toBe('t01   connecting');
    s = updatePanel(s, { type: 'connection', connection: 'online' }, 0).state;
    expect(panelView(s, 0).lines[0]).toBe('t01       online');
    s = updatePanel(s, { type: 'connection', connection: 'offline' }, 0).state;
    expect(panelView(s, 0).lines[0]).toBe('t01      OFFLINE');
    for (const line of panelView(s, 0).lines) expect(line).toHaveLength(16);
  });

  it('cuts a long terminal id, never the connection state', () => {
    const s = run(initialPanelState({ id: 'terminal-with-a-very-long-name' }, 0), [
      { type: 'connection', connection: 'online' },
    ]).state;
    expect(panelView(s, 0).lines[0]).toBe('terminal- online');
  });

  it('shows the selected SKU with available/onHand when nothing else is going on', () => {
    const s = base();
    expect(panelView(s, 0).lines[1]).toBe('>apple     20/20');
    const s2 = updatePanel(s, { type: 'ledger', items: { apple: item(20, 3, 2) }, picks: [] }, 0).state;
    expect(panelView(s2, 0).lines[1]).toBe('>apple     15/20');
  });

  it('shows the pick list after a commit, oldest first, and cycles through it', () => {
    const s = updatePanel(
      base(),
      {
        type: 'ledger',
        items: { apple: item(20, 0, 2), pear: item(30, 0, 1) },
        picks: [
          { tx: 'tx-a', lines: [{ sku: 'apple', qty: 2 }] },
          { tx: 'tx-b', lines: [{ sku: 'pear', qty: 1 }] },
        ],
      },
      1000,
    ).state;
    const cycle = s.config.cycleMs;
    expect(panelView(s, 1000).lines).toEqual(['t01    online P2', 'P1 apple x2     ']);
    expect(panelView(s, 1000 + cycle).lines[1]).toBe('P2 pear x1      ');
    expect(panelView(s, 1000 + 2 * cycle).lines[1]).toBe('>apple     18/20');
    expect(panelView(s, 1000 + 3 * cycle).lines[1]).toBe('P1 apple x2     ');
    expect(nextChangeAt(s, 1000)).toBe(1000 + cycle);
  });

  it('gives every line of an order its own page, and shortens long SKUs but keeps the quantity', () => {
    const sku = 'a-very-long-sku-name-0001';
    const s = updatePanel(
      base(),
      {
        type: 'ledger',
        items: { [sku]: item(50, 0, 12), b: item(5, 0, 1) },
        picks: [
          {
            tx: 'tx',
            lines: [
              { sku, qty: 12 },
              { sku: 'b', qty: 1 },
            ],
          },
        ],
      },
      0,
    ).state;
    expect(panelView(s, 0).lines[1]).toBe('P1 a-very-lo x12');
    expect(panelView(s, s.config.cycleMs).lines[1]).toBe('P1 b x1         ');
  });

  it('uses every body row of a bigger LCD', () => {
    let s = initialPanelState({ id: 't01', cols: 20, rows: 4 }, 0);
    s = updatePanel(
      s,
      {
        type: 'ledger',
        items: { apple: item(9, 0, 3) },
        picks: [
          { tx: 'a', lines: [{ sku: 'apple', qty: 1 }] },
          { tx: 'b', lines: [{ sku: 'apple', qty: 2 }] },
        ],
      },
      0,
    ).state;
    expect(panelView(s, 0).lines.map((l) => l.trimEnd())).toEqual([
      't01    connecting P2',
      'P1 apple x1',
      'P2 apple x2',
      '>apple           6/9',
    ]);
    expect(nextChangeAt(s, 0)).toBeNull();
  });

  it('keeps only printable ASCII on the LCD', () => {
    expect(fitLine('café\tok', 8)).toBe('caf??ok ');
    expect(fitLine('0123456789abcdefXYZ', 16)).toBe('0123456789abcdef');
  });

  it('does not restart the cycle when only a number changes', () => {
    const picks = [
      { tx: 'a', lines: [{ sku: 'apple', qty: 1 }] },
      { tx: 'b', lines: [{ sku: 'pear', qty: 1 }] },
    ];
    const s = updatePanel(
      base(),
      { type: 'ledger', items: { apple: item(20), pear: item(30) }, picks },
      0,
    ).state;
    const s2 = updatePanel(
      s,
      { type: 'ledger', items: { apple: item(25), pear: item(30) }, picks },
      2500,
    ).state;
    expect(s2.pagesSince).toBe(s.pagesSince);
    const s3 = updatePanel(
      s2,
      { type: 'ledger', items: { apple: item(25), pear: item(30) }, picks: [] },
      2600,
    ).state;
    expect(s3.pagesSince).toBe(2600);
  });
});

describe('panel LEDs', () => {
  it('green follows the connection, yellow a pending pick', () => {
    let s = initialPanelState({ id: 't01' }, 0);
    expect(panelView(s, 0).leds).toEqual({ online: false, pickPending: false, fault: false });
    s = base();
    expect(panelView(s, 0).leds).toEqual({ online: true, pickPending: false, fault: false });
    s = updatePanel(
      s,
      {
        type: 'ledger',
        items: { apple: item(20, 0, 1) },
        picks: [{ tx: 'a', lines: [{ sku: 'apple', qty: 1 }] }],
      },
      0,
    ).state;
    expect(panelView(s, 0).leds.pickPending).toBe(true);
  });

  it('red lights for a low-stock SKU and a fault in force, with a page for each', () => {
    let s = updatePanel(
      base(),
      { type: 'ledger', items: { apple: item(20), pear: item(4, 1, 1) }, picks: [] },
      0,
    ).state;
    expect(alertKeys(s)).toEqual(['low:pear']);
    expect(panelView(s, 0).leds.fault).toBe(true);
    expect(panelView(s, 0).lines[1]).toBe('LOW pear 2      ');
    s = updatePanel(s, { type: 'faults', faults: ['freeze'] }, 0).state;
    expect(alertKeys(s)).toEqual(['fault:freeze', 'low:pear']);
    expect(panelView(s, 0).lines[1]).toBe('FAULT freeze    ');
  });

  it('reset-fault turns red off until a new alert appears', () => {
    let s = updatePanel(base(), { type: 'faults', faults: ['slow 200ms'] }, 0).state;
    expect(panelView(s, 0).leds.fault).toBe(true);
    const r = run(s, click('resetFault'), 10);
    s = r.state;
    expect(r.actions).toEqual([]);
    expect(panelView(s, 10).leds.fault).toBe(false);
    expect(panelView(s, 10).lines[1]).toBe('1 alert cleared ');
    // The same alert again: still acknowledged.
    s = updatePanel(s, { type: 'faults', faults: ['slow 200ms'] }, 20).state;
    expect(panelView(s, 20).leds.fault).toBe(false);
    // A new one (a SKU running low) lights it again.
    s = updatePanel(s, { type: 'ledger', items: { apple: item(2), pear: item(30) }, picks: [] }, 30).state;
    expect(panelView(s, 30).leds.fault).toBe(true);
  });

  it('an alert that ended and comes back lights red again', () => {
    let s = updatePanel(base(), { type: 'faults', faults: ['stale'] }, 0).state;
    s = run(s, click('resetFault')).state;
    expect(panelView(s, 0).leds.fault).toBe(false);
    s = updatePanel(s, { type: 'faults', faults: [] }, 0).state;
    expect(s.acknowledged).toEqual([]);
    s = updatePanel(s, { type: 'faults', faults: ['stale'] }, 0).state;
    expect(panelView(s, 0).leds.fault).toBe(true);
  });

  it('low-stock alerts can be switched off', () => {
    const s = updatePanel(
      base({ lowStockBelow: 0 }),
      { type: 'ledger', items: { apple: item(0) }, picks: [] },
      0,
    ).state;
    expect(alertKeys(s)).toEqual([]);
    expect(panelView(s, 0).leds.fault).toBe(false);
  });
});

describe('panel buttons', () => {
  const withPicks = () =>
    updatePanel(
      base(),
      {
        type: 'ledger',
        items: { apple: item(20, 0, 3), pear: item(30) },
        picks: [
          { tx: 'old', lines: [{ sku: 'apple', qty: 2 }] },
          { tx: 'new', lines: [{ sku: 'apple', qty: 1 }] },
        ],
      },
      0,
    ).state;

  it('pick confirms the oldest pending pick, on release', () => {
    const s = withPicks();
    const down = updatePanel(s, { type: 'button', button: 'pick', edge: 'down' }, 0);
    expect(down.actions).toEqual([]);
    const up = updatePanel(down.state, { type: 'button', button: 'pick', edge: 'up' }, 0);
    expect(up.actions).toEqual([{ kind: 'pick', tx: 'old', lines: [{ sku: 'apple', qty: 2 }] }]);
  });

  it('pick without a pending pick only says so', () => {
    const r = run(base(), click('pick'));
    expect(r.actions).toEqual([]);
    expect(panelView(r.state, 0).lines[1]).toBe('no pick pending ');
  });

  it('a held pick still picks (only restock and count have a hold gesture)', () => {
    expect(run(withPicks(), hold('pick', 2)).actions).toEqual([
      { kind: 'pick', tx: 'old', lines: [{ sku: 'apple', qty: 2 }] },
    ]);
  });

  it('restock adds the configured quantity to the selected SKU', () => {
    expect(run(base({ restockQty: 25 }), click('restock')).actions).toEqual([
      { kind: 'restock', sku: 'apple', qty: 25 },
    ]);
  });

  it('holding restock selects the next SKU (wrapping), holding count the previous; no action on release', () => {
    let r = run(base(), hold('restock'));
    expect(r.actions).toEqual([]);
    expect(r.state.selected).toBe('pear');
    expect(panelView(r.state, 0).lines[1]).toBe('>pear      30/30');
    r = run(r.state, hold('restock'));
    expect(r.state.selected).toBe('apple');
    r = run(r.state, hold('count', 3));
    expect(r.actions).toEqual([]);
    expect(r.state.selected).toBe('pear');
    r = run(r.state, click('restock'));
    expect(r.actions).toEqual([{ kind: 'restock', sku: 'pear', qty: 10 }]);
  });

  it('count sets onHand from the knob, mapped from 0..1023 to 0..countMax', () => {
    expect(analogToCount(0, 100)).toBe(0);
    expect(analogToCount(1023, 100)).toBe(100);
    expect(analogToCount(512, 100)).toBe(50);
    expect(analogToCount(5000, 60)).toBe(60);
    expect(run(base(), click('count')).actions).toEqual([]);
    expect(panelView(run(base(), click('count')).state, 0).lines[1]).toBe('no knob reading ');
    const r = run(base({ countMax: 60 }), [{ type: 'analog', raw: 1023 }, ...click('count')]);
    expect(r.actions).toEqual([{ kind: 'count', sku: 'apple', qty: 60 }]);
  });

  it('turning the knob previews the count on the LCD', () => {
    const r = run(base(), [
      { type: 'analog', raw: 100 },
      { type: 'analog', raw: 700 },
    ]);
    expect(panelView(r.state, 0).lines[1]).toBe('#apple ->68     ');
    expect(panelView(r.state, r.state.config.messageMs).lines[1]).toBe('>apple     20/20');
  });

  it('count asks the prompt when configured so', () => {
    const r = run(base({ countFrom: 'prompt' }), click('count'));
    expect(r.actions).toEqual([{ kind: 'count', sku: 'apple', qty: null }]);
  });

  it('ignores an up without its down (held while starting) and repeated downs', () => {
    const r = run(withPicks(), [
      { type: 'button', button: 'pick', edge: 'up' },
      { type: 'button', button: 'pick', edge: 'down' },
      { type: 'button', button: 'pick', edge: 'down' },
      { type: 'button', button: 'pick', edge: 'up' },
      { type: 'button', button: 'pick', edge: 'up' },
    ]);
    expect(r.actions).toHaveLength(1);
  });

  it('restock and count without any SKU only say so', () => {
    const s = initialPanelState({ id: 't01' }, 0);
    expect(panelView(s, 0).lines[1]).toBe('no stock        ');
    const r = run(s, [...click('restock'), ...click('count')]);
    expect(r.actions).toEqual([]);
    expect(panelView(r.state, 0).lines[1]).toBe('no SKU selected ');
  });
});

describe('panel results', () => {
  it('shows the outcome of an action for messageMs', () => {
    let s = base();
    s = updatePanel(
      s,
      { type: 'result', action: { kind: 'restock', sku: 'apple', qty: 10 }, ok: true, onHand: 30 },
      0,
    ).state;
    expect(panelView(s, 0).lines[1]).toBe('+10 apple =30   ');
    expect(nextChangeAt(s, 0)).toBe(s.config.messageMs);
    s = updatePanel(
      s,
      { type: 'result', action: { kind: 'pick', tx: 'a', lines: [{ sku: 'apple', qty: 2 }] }, ok: true },
      0,
    ).state;
    expect(panelView(s, 0).lines[1]).toBe('picked apple x2 ');
    s = updatePanel(
      s,
      { type: 'result', action: { kind: 'count', sku: 'apple', qty: 1 }, ok: false, error: 'below held' },
      0,
    ).state;
    expect(panelView(s, 0).lines[1]).toBe('count below held');
  });

  it('keeps the selection when the SKU stays, moves it when the SKU is gone', () => {
    let s = run(base(), hold('restock')).state;
    expect(s.selected).toBe('pear');
    s = updatePanel(s, { type: 'ledger', items: { apple: item(1), pear: item(2) }, picks: [] }, 0).state;
    expect(s.selected).toBe('pear');
    s = updatePanel(s, { type: 'ledger', items: { apple: item(1) }, picks: [] }, 0).state;
    expect(s.selected).toBe('apple');
  });
});
