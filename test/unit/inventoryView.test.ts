import { describe, expect, it } from 'vitest';
import { allocate } from '../../gateway/allocation.ts';
import { InventoryView } from '../../gateway/inventoryView.ts';

const online = (skus: string[] = []) => ({
  state: 'online' as const,
  board: 'virtual',
  firmware: 'fw',
  skus,
});
const item = (onHand: number, reserved = 0, committed = 0) => ({ onHand, reserved, committed });

const toObject = (m: ReadonlyMap<string, ReadonlyMap<string, number>>) =>
  Object.fromEntries([...m].map(([tid, s]) => [tid, Object.fromEntries(s)]));

describe('InventoryView', () => {
  it('knows nothing at first', () => {
    const v = new InventoryView();
    expect(v.available('t1', 'A')).toBe(0);
    expect(v.isOnline('t1')).toBe(false);
    expect(v.terminalIds()).toEqual([]);
    expect(v.onlineCount()).toBe(0);
    expect(v.stock('t1')).toEqual({});
  });

  it('available = onHand - reserved - committed', () => {
    const v = new InventoryView();
    v.onState('t1', online(['A', 'B']));
    v.onInventory('t1', { seq: 3, items: { A: item(10, 2, 3), B: item(4) } });
    expect(v.available('t1', 'A')).toBe(5);
    expect(v.available('t1', 'B')).toBe(4);
    expect(v.available('t1', 'C')).toBe(0);
    expect(v.available('t2', 'A')).toBe(0);
    expect(v.stock('t1')).toEqual({ A: item(10, 2, 3), B: item(4) });
  });

  it('a newer inventory replaces the previous one entirely', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10), B: item(5) } });
    v.onInventory('t1', { seq: 2, items: { A: item(7, 1) } });
    expect(v.available('t1', 'A')).toBe(6);
    expect(v.available('t1', 'B')).toBe(0);
    expect(v.stock('t1')).toEqual({ A: item(7, 1) });
  });

  it('holds are subtracted from available, per SKU', () => {
    const v = new InventoryView();
    v.onState('t1', online());
    v.onInventory('t1', { seq: 1, items: { A: item(10), B: item(10) } });
    v.hold('t1', 'tx1', [
      { sku: 'A', qty: 3 },
      { sku: 'B', qty: 1 },
    ]);
    v.hold('t1', 'tx2', [{ sku: 'A', qty: 2 }]);
    expect(v.available('t1', 'A')).toBe(5);
    expect(v.available('t1', 'B')).toBe(9);
    // a hold on another terminal does not count here
    v.hold('t2', 'tx3', [{ sku: 'A', qty: 4 }]);
    expect(v.available('t1', 'A')).toBe(5);
    expect(v.available('t2', 'A')).toBe(-4);
  });

  it('holding the same tx again replaces the hold', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 1 }]);
    expect(v.available('t1', 'A')).toBe(9);
  });

  it('a hold settled with a seq stays until an inventory with that seq arrives', () => {
    const v = new InventoryView();
    v.onState('t1', online());
    v.onInventory('t1', { seq: 5, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.settle('t1', 'tx1', 7);
    expect(v.available('t1', 'A')).toBe(7);
    // an older inventory (not yet showing the reservation) keeps the hold
    v.onInventory('t1', { seq: 6, items: { A: item(10) } });
    expect(v.available('t1', 'A')).toBe(7);
    // the inventory that shows the reservation drops it: counted exactly once
    v.onInventory('t1', { seq: 7, items: { A: item(10, 3) } });
    expect(v.available('t1', 'A')).toBe(7);
    // and it stays dropped
    v.onInventory('t1', { seq: 8, items: { A: item(10, 3) } });
    expect(v.available('t1', 'A')).toBe(7);
  });

  it('an inventory past the settle seq drops the hold too', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.settle('t1', 'tx1', 4);
    v.onInventory('t1', { seq: 9, items: { A: item(10, 0, 3) } });
    expect(v.available('t1', 'A')).toBe(7);
  });

  it('an unsettled hold survives any inventory', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.onInventory('t1', { seq: 100, items: { A: item(10) } });
    expect(v.available('t1', 'A')).toBe(7);
  });

  it('settle without a seq drops the hold at once', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.hold('t1', 'tx2', [{ sku: 'A', qty: 1 }]);
    v.settle('t1', 'tx1');
    expect(v.available('t1', 'A')).toBe(9);
  });

  it('settle with a seq already seen drops the hold at once', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 5, items: { A: item(10, 3) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.settle('t1', 'tx1', 5);
    expect(v.available('t1', 'A')).toBe(7);
    v.hold('t1', 'tx2', [{ sku: 'A', qty: 2 }]);
    v.settle('t1', 'tx2', 4);
    expect(v.available('t1', 'A')).toBe(7);
  });

  it('settle of an unknown tx or terminal is harmless', () => {
    const v = new InventoryView();
    v.onInventory('t1', { seq: 1, items: { A: item(10) } });
    v.hold('t1', 'tx1', [{ sku: 'A', qty: 3 }]);
    v.settle('t1', 'other', 1);
    v.settle('t9', 'tx1', 1);
    expect(v.available('t1', 'A')).toBe(7);
    expect(v.terminalIds()).toEqual(['t1']);
  });

  it('tracks online state and terminal ids', () => {
    const v = new InventoryView();
    v.onState('t2', online());
    v.onState('t1', online());
    v.onState('t3', { state: 'offline' });
    expect(v.terminalIds()).toEqual(['t1', 't2', 't3']);
    expect(v.isOnline('t1')).toBe(true);
    expect(v.isOnline('t3')).toBe(false);
    expect(v.onlineCount()).toBe(2);
    v.onState('t1', { state: 'offline' });
    expect(v.onlineCount()).toBe(1);
    // an inventory alone does not make a terminal online
    v.onInventory('t4', { seq: 1, items: {} });
    expect(v.isOnline('t4')).toBe(false);
  });

  describe('split', () => {
    function fleet() {
      const v = new InventoryView();
      v.onState('on1', online(['A', 'B']));
      v.onInventory('on1', { seq: 1, items: { A: item(5), B: item(2, 1) } });
      v.onState('on2', online(['A']));
      v.onInventory('on2', { seq: 1, items: { A: item(3), Z: item(9) } });
      v.onState('off', online(['A']));
      v.onInventory('off', { seq: 1, items: { A: item(8) } });
      v.onState('off', { state: 'offline' });
      v.onState('broken', online(['B']));
      v.onInventory('broken', { seq: 1, items: { B: item(4) } });
      return v;
    }

    it('online and usable terminals are candidates; offline or unusable ones are elsewhere', () => {
      const v = fleet();
      const { candidates, elsewhere } = v.split(['A', 'B'], (tid) => tid !== 'broken');
      expect(toObject(candidates)).toEqual({ on1: { A: 5, B: 1 }, on2: { A: 3 } });
      expect(toObject(elsewhere)).toEqual({ off: { A: 8 }, broken: { B: 4 } });
    });

    it('only the asked SKUs, and terminals with none of them are left out', () => {
      const v = fleet();
      const { candidates, elsewhere } = v.split(['Z'], () => true);
      expect(toObject(candidates)).toEqual({ on2: { Z: 9 } });
      expect(toObject(elsewhere)).toEqual({});
    });

    it('holds are reflected', () => {
      const v = fleet();
      v.hold('on1', 'tx', [{ sku: 'A', qty: 4 }]);
      const { candidates } = v.split(['A'], () => true);
      expect(toObject(candidates)).toEqual({ on1: { A: 1 }, on2: { A: 3 } });
    });

    it('catalog-only terminals are elsewhere with unbounded stock of the SKUs they carry', () => {
      const v = fleet();
      const catalog = new Map<string, Set<string>>([
        ['ghost', new Set(['A', 'Q'])],
        ['ghost2', new Set(['Q'])],
        // a terminal the view already knows is not taken from the catalog
        ['on1', new Set(['A', 'B', 'C'])],
      ]);
      const { candidates, elsewhere } = v.split(['A', 'B'], () => true, catalog);
      expect(toObject(candidates)).toEqual({ on1: { A: 5, B: 1 }, on2: { A: 3 }, broken: { B: 4 } });
      expect(toObject(elsewhere)).toEqual({ ghost: { A: Number.MAX_SAFE_INTEGER }, off: { A: 8 } });
    });

    it('feeds allocate: a shortfall covered by an unreported catalog terminal is terminals_unavailable', () => {
      const v = fleet();
      const catalog = new Map([['ghost', new Set(['A'])]]);
      const { candidates, elsewhere } = v.split(['A'], () => true, catalog);
      expect(allocate([{ sku: 'A', qty: 50 }], candidates, elsewhere)).toEqual({
        ok: false,
        reason: 'terminals_unavailable',
        sku: 'A',
      });
      const noCatalog = v.split(['A'], () => true);
      expect(allocate([{ sku: 'A', qty: 50 }], noCatalog.candidates, noCatalog.elsewhere)).toEqual({
        ok: false,
        reason: 'out_of_stock',
        sku: 'A',
      });
      expect(allocate([{ sku: 'A', qty: 8 }], candidates, elsewhere)).toEqual({
        ok: true,
        allocation: [
          { terminal: 'on1', sku: 'A', qty: 5 },
          { terminal: 'on2', sku: 'A', qty: 3 },
        ],
      });
    });
  });
});
