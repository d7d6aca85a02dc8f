/** The statistics service on a fake clock: counters, windows, percentiles, health, stock, publishing, /metrics. */
import { describe, expect, it } from 'vitest';
import { Bus } from '../../gateway/bus.ts';
import { Metrics } from '../../gateway/metrics.ts';
import { RollingHistogram, WindowCounter } from '../../gateway/stats/window.ts';
import { type OrderDetails, Statistics, type StatisticsOptions } from '../../gateway/stats.ts';
import { Rng } from '../../lib/random.ts';
import {
  type OrderLine,
  type OrderState,
  StatsOrders,
  StatsSkus,
  StatsSummary,
  StatsTerminal,
  type StockItem,
  Topics,
} from '../../protocol/index.ts';

const T0 = 1_700_000_000_000;

function setup(opts: Partial<StatisticsOptions> = {}) {
  const clock = { now: T0 };
  const bus = new Bus();
  const published: { topic: string; payload: string }[] = [];
  const orders = new Map<string, OrderDetails>();
  const stats = new Statistics(
    bus,
    new Topics(),
    (topic, payload) => {
      published.push({ topic, payload });
    },
    { now: () => clock.now, ...opts },
    (cid, orderId) => orders.get(`${cid}/${orderId}`),
  );
  const move = (
    orderId: string,
    from: OrderState | null,
    to: OrderState,
    acceptedAt: number,
    lines?: OrderLine[],
    cid = 'c1',
  ) => {
    if (lines)
      orders.set(`${cid}/${orderId}`, {
        lines,
        allocation: [{ terminal: 't1', sku: lines[0]!.sku, qty: 1 }],
      });
    stats.onOrderState({ cid, orderId, from, to, at: clock.now, acceptedAt });
  };
  return { clock, bus, stats, published, move, orders };
}

describe('stats topics', () => {
  it('builds and parses every stats topic', () => {
    const t = new Topics();
    expect(t.parse(t.statsSummary())).toEqual({ family: 'stats', kind: 'summary' });
    expect(t.parse(t.statsTerminal('t1'))).toEqual({ family: 'stats', kind: 'terminal', tid: 't1' });
    expect(t.statsOrders()).toBe('stockgate/stats/orders');
    expect(t.parse(t.statsOrders())).toEqual({ family: 'stats', kind: 'orders' });
    expect(t.statsSkus()).toBe('stockgate/stats/skus');
    expect(t.parse(t.statsSkus())).toEqual({ family: 'stats', kind: 'skus' });
    expect(t.parse('stockgate/stats/orders/x')).toBeNull();
  });
});

describe('WindowCounter', () => {
  it('gives rates over the window and forgets older seconds', () => {
    const c = new WindowCounter(60);
    for (let s = 0; s < 20; s++) c.add(T0 + s * 1000, 5);
    const now = T0 + 19_999;
    expect(c.sum(now, 10)).toBe(50);
    expect(c.rate(now, 10, T0)).toBeCloseTo(5, 1);
    expect(c.sum(now, 60)).toBe(100);
    // Since the start (20 s), not the whole 60 s window.
    expect(c.rate(now, 60, T0)).toBeCloseTo(5, 1);
    // 70 s later every bucket has been recycled or is outside the window.
    expect(c.sum(now + 70_000, 60)).toBe(0);
    expect(c.rate(T0, 10, T0)).toBe(0);
  });
});

describe('RollingHistogram', () => {
  it('computes percentiles over the last seconds only', () => {
    const h = new RollingHistogram(10);
    for (let v = 1; v <= 100; v++) h.record(T0 + (v % 5) * 1000, v);
    const p = h.percentiles(T0 + 4_500);
    expect(p.count).toBe(100);
    expect(p.p50).toBeGreaterThanOrEqual(49);
    expect(p.p50).toBeLessThanOrEqual(51);
    expect(p.p99).toBeGreaterThanOrEqual(98);
    expect(p.p99).toBeLessThanOrEqual(100);
    expect(p.max).toBeGreaterThanOrEqual(100);
    expect(p.max).toBeLessThanOrEqual(101);
    expect(h.total).toBe(100);
    expect(h.sum).toBe(5050);
    // 12 s later nothing is in the window any more, but the totals stay.
    expect(h.percentiles(T0 + 16_000)).toEqual({ p50: 0, p90: 0, p99: 0, max: 0, count: 0 });
    expect(h.total).toBe(100);
  });

  it('clamps negative and huge values instead of throwing', () => {
    const h = new RollingHistogram(10);
    h.record(T0, -5);
    h.record(T0, 1e12);
    expect(h.percentiles(T0).count).toBe(2);
  });
});

describe('Statistics', () => {
  it('counts orders by state, open orders and in flight, with latencies', () => {
    const { clock, stats, move } = setup();
    const lines = [{ sku: 'apple', qty: 2 }];
    move('o1', null, 'accepted', T0);
    move('o2', null, 'accepted', T0);
    move('o3', null, 'accepted', T0);
    let s = stats.summary();
    expect(s.inFlight).toBe(3);
    expect(s.open).toEqual({ accepted: 3, confirmed: 0 });

    clock.now = T0 + 40;
    move('o1', 'accepted', 'confirmed', T0, lines);
    move('o2', 'accepted', 'rejected', T0);
    clock.now = T0 + 1040;
    move('o1', 'confirmed', 'fulfilled', T0, lines);
    move('o3', 'accepted', 'confirmed', T0, lines);
    clock.now = T0 + 1100;
    move('o3', 'confirmed', 'cancelled', T0, lines);

    s = stats.summary();
    expect(StatsSummary.parse(s)).toEqual(s);
    expect(s.orders).toEqual({
      accepted: 3,
      confirmed: 2,
      fulfilled: 1,
      rejected: 1,
      failed: 0,
      cancelled: 1,
    });
    expect(s.inFlight).toBe(0);
    expect(s.open).toEqual({ accepted: 0, confirmed: 0 });
    expect(s.latencyMs.acceptedToConfirmed!.count).toBe(2);
    expect(s.latencyMs.acceptedToConfirmed!.p50).toBeGreaterThanOrEqual(39);
    expect(s.latencyMs.acceptedToConfirmed!.max).toBeGreaterThanOrEqual(1039);
    expect(s.latencyMs.confirmedToFulfilled!.count).toBe(1);
    expect(s.latencyMs.confirmedToFulfilled!.p50).toBeGreaterThanOrEqual(999);
    expect(s.latencyMs.confirmedToFulfilled!.p50).toBeLessThanOrEqual(1010);
    // 3 accepted within 1.1 s of the start.
    expect(s.rates.accepted).toBeGreaterThan(2);
  });

  it('keeps sales and stock per SKU', () => {
    const { clock, stats, move } = setup({ lowStock: 2 });
    stats.onInventory({ tid: 't1', items: { apple: { onHand: 10, reserved: 1, committed: 2 } } });
    stats.onInventory({
      tid: 't2',
      items: {
        apple: { onHand: 5, reserved: 0, committed: 0 },
        pear: { onHand: 2, reserved: 0, committed: 0 },
      },
    });
    move('o1', null, 'accepted', T0);
    move('o1', 'accepted', 'confirmed', T0, [{ sku: 'apple', qty: 3 }]);
    move('o2', null, 'accepted', T0);
    move('o2', 'accepted', 'confirmed', T0, [{ sku: 'kiwi', qty: 1 }]);
    move('o2', 'confirmed', 'cancelled', T0, [{ sku: 'kiwi', qty: 1 }]);
    clock.now += 10;
    move('o1', 'confirmed', 'fulfilled', T0, [{ sku: 'apple', qty: 3 }]);
    const k = stats.skus();
    expect(StatsSkus.parse(k)).toEqual(k);
    expect(Object.keys(k.skus)).toEqual(['apple', 'kiwi', 'pear']);
    expect(k.skus.apple).toEqual({
      sold: 3,
      returned: 0,
      fulfilled: 3,
      onHand: 15,
      reserved: 1,
      committed: 2,
      available: 12,
      terminals: 2,
      low: false,
    });
    expect(k.skus.kiwi).toMatchObject({ sold: 1, returned: 1, onHand: 0, terminals: 0, low: true });
    expect(k.skus.pear).toMatchObject({ available: 2, low: true });
    expect(stats.terminalStats('t2')!.low).toEqual(['pear']);
  });

  it('keeps a bounded list of recent orders, newest first', () => {
    const { clock, stats, move } = setup({ recentOrders: 3 });
    for (let i = 1; i <= 5; i++) {
      clock.now = T0 + i;
      move(`o${i}`, null, 'accepted', clock.now, [{ sku: 'apple', qty: i }]);
    }
    clock.now = T0 + 10;
    move('o3', 'accepted', 'confirmed', T0 + 3);
    const r = stats.recentOrders();
    expect(StatsOrders.parse(r)).toEqual(r);
    expect(r.recent.map((o) => `${o.orderId}:${o.state}`)).toEqual([
      'o3:confirmed',
      'o5:accepted',
      'o4:accepted',
    ]);
    expect(r.recent[0]).toMatchObject({ cid: 'c1', units: 3, skus: ['apple'], terminals: ['t1'] });
  });

  it('tracks terminal health: online, prepares, timeouts, breaker, round trips, faults', () => {
    const { clock, stats } = setup();
    stats.onTerminal({ tid: 't1', online: true });
    stats.onTerminal({ tid: 't2', online: true });
    stats.onTerminal({ tid: 't2', online: false });
    stats.onCommand({ tid: 't1', op: 'prepare', ok: true, rttMs: 4 });
    stats.onCommand({ tid: 't1', op: 'prepare', ok: false, rttMs: 6 });
    stats.onCommand({ tid: 't1', op: 'commit', ok: true, rttMs: 5 });
    stats.onCommandTimeout({ tid: 't1', op: 'prepare' });
    stats.onBreaker({ tid: 't1', state: 'open' });
    stats.onFaults({
      active: [
        { target: 'terminals/t1', kind: 'freeze', params: {}, since: T0 },
        { target: 'links/t1', kind: 'drop', params: { pct: 10 }, since: T0 },
        { target: 'gateway', kind: 'crash', params: {}, since: T0 },
        { target: 'terminals/t3', kind: 'slow', params: { ms: 100 }, since: T0 },
      ],
    });
    const t1 = stats.terminalStats('t1')!;
    expect(StatsTerminal.parse(t1)).toEqual(t1);
    expect(t1).toMatchObject({
      online: true,
      breaker: 'open',
      prepareOk: 1,
      prepareFail: 1,
      timeouts: 1,
      faults: ['freeze', 'link:drop'],
    });
    expect(t1.rttMs!.count).toBe(3);
    expect(stats.terminalStats('t2')!.online).toBe(false);
    expect(stats.terminalStats('t3')!.faults).toEqual(['slow']);
    const s = stats.summary();
    expect(s.terminalsOnline).toBe(1);
    expect(s.terminalsKnown).toBe(3);
    expect(s.faultsActive).toBe(4);
    expect(s.latencyMs.commandRtt!.count).toBe(3);

    // Healed: the faults go away everywhere.
    stats.onFaults({ active: [] });
    expect(stats.terminalStats('t1')!.faults).toEqual([]);
    expect(stats.summary().faultsActive).toBe(0);
    clock.now += 60_000;
    expect(stats.terminalStats('t1')!.rttMs!.count).toBe(0);
  });

  it('puts back open orders found in the journal', () => {
    const { clock, stats, move } = setup();
    stats.restore([
      { cid: 'c1', orderId: 'a', state: 'accepted', acceptedAt: T0 - 100, updatedAt: T0 - 100 },
      { cid: 'c1', orderId: 'b', state: 'confirmed', acceptedAt: T0 - 100, updatedAt: T0 - 50 },
      { cid: 'c1', orderId: 'c', state: 'fulfilled', acceptedAt: T0 - 100, updatedAt: T0 - 50 },
    ]);
    expect(stats.summary().open).toEqual({ accepted: 1, confirmed: 1 });
    clock.now = T0 + 950;
    move('b', 'confirmed', 'fulfilled', T0 - 100);
    move('a', 'accepted', 'failed', T0 - 100);
    const s = stats.summary();
    expect(s.inFlight).toBe(0);
    expect(s.latencyMs.confirmedToFulfilled!.p50).toBeGreaterThanOrEqual(999);
  });

  it('counts refusals by code', () => {
    const { stats } = setup();
    stats.onRefused({ cid: 'c1', code: 'invalid_payload' });
    stats.onRefused({ code: 'invalid_payload' });
    stats.onRefused({ code: 'unknown_sku' });
    expect(stats.summary().refused).toEqual({ invalid_payload: 2, unknown_sku: 1 });
  });

  it('listens to the bus between start and stop, and publishes valid stats', () => {
    const { bus, stats, published, clock } = setup({ intervalMs: 3_600_000 });
    stats.start();
    // The first tick runs at start: a summary (and an empty orders list, skus).
    expect(published.map((p) => p.topic)).toContain('stockgate/stats/summary');
    published.length = 0;
    bus.emit('terminal', { tid: 't1', online: true });
    bus.emit('inventory', { tid: 't1', items: { apple: { onHand: 3, reserved: 0, committed: 0 } } });
    bus.emit('orderState', { cid: 'c1', orderId: 'o1', from: null, to: 'accepted', at: T0, acceptedAt: T0 });
    stats.tick();
    const topics = published.map((p) => p.topic).sort();
    expect(topics).toEqual([
      'stockgate/stats/orders',
      'stockgate/stats/skus',
      'stockgate/stats/summary',
      'stockgate/stats/terminals/t1',
    ]);
    for (const p of published) {
      const body = JSON.parse(p.payload) as unknown;
      if (p.topic.endsWith('/summary')) StatsSummary.parse(body);
      else if (p.topic.endsWith('/orders')) StatsOrders.parse(body);
      else if (p.topic.endsWith('/skus')) StatsSkus.parse(body);
      else StatsTerminal.parse(body);
    }
    // Nothing changed: only the summary again; after refreshMs the terminal too.
    published.length = 0;
    clock.now += 1000;
    stats.tick();
    expect(published.map((p) => p.topic)).toEqual(['stockgate/stats/summary']);
    clock.now += 10_000;
    published.length = 0;
    stats.tick();
    expect(published.map((p) => p.topic)).toEqual([
      'stockgate/stats/summary',
      'stockgate/stats/terminals/t1',
    ]);

    stats.stop();
    bus.emit('orderState', { cid: 'c1', orderId: 'o2', from: null, to: 'accepted', at: T0, acceptedAt: T0 });
    expect(stats.summary().orders.accepted).toBe(1);
    expect(bus.listenerCount('orderState')).toBe(0);
  });

  it('counts a failing publish instead of throwing', () => {
    const stats = new Statistics(new Bus(), new Topics(), () => Promise.reject(new Error('broker stopped')));
    stats.tick();
    const throwing = new Statistics(new Bus(), new Topics(), () => {
      throw new Error('no');
    });
    expect(() => throwing.tick()).not.toThrow();
    expect(throwing.publishErrors).toBeGreaterThan(0);
  });
});

/** Prometheus text: `name{labels} value` lines into a map. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('Metrics', () => {
  it('shows the same numbers as the statistics, in the Prometheus format', async () => {
    const { stats, move, clock } = setup();
    stats.onTerminal({ tid: 't1', online: true });
    stats.onBreaker({ tid: 't1', state: 'half-open' });
    stats.onCommand({ tid: 't1', op: 'prepare', ok: true, rttMs: 7 });
    stats.onInventory({ tid: 't1', items: { apple: { onHand: 9, reserved: 0, committed: 1 } } });
    move('o1', null, 'accepted', T0);
    clock.now += 25;
    move('o1', 'accepted', 'confirmed', T0, [{ sku: 'apple', qty: 1 }]);
    const metrics = new Metrics(stats);
    const res = await metrics.render();
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    const m = parseMetrics(res.body);
    expect(m.get('stockgate_orders_total{state="accepted"}')).toBe(1);
    expect(m.get('stockgate_orders_total{state="confirmed"}')).toBe(1);
    expect(m.get('stockgate_orders_total{state="failed"}')).toBe(0);
    expect(m.get('stockgate_orders_in_flight')).toBe(1);
    expect(m.get('stockgate_orders_open{state="confirmed"}')).toBe(1);
    expect(m.get('stockgate_terminals{status="online"}')).toBe(1);
    expect(m.get('stockgate_terminal_online{terminal="t1"}')).toBe(1);
    expect(m.get('stockgate_terminal_breaker{terminal="t1",state="half-open"}')).toBe(1);
    expect(m.get('stockgate_terminal_breaker{terminal="t1",state="closed"}')).toBe(0);
    expect(m.get('stockgate_terminal_prepares_total{terminal="t1",outcome="ok"}')).toBe(1);
    expect(m.get('stockgate_terminal_rtt_ms{terminal="t1",quantile="0.5"}')).toBe(7);
    expect(m.get('stockgate_latency_ms{kind="acceptedToConfirmed",quantile="0.5"}')).toBe(25);
    expect(m.get('stockgate_latency_observations_total{kind="acceptedToConfirmed"}')).toBe(1);
    expect(m.get('stockgate_stock_units{sku="apple",kind="available"}')).toBe(8);
    expect(m.get('stockgate_sku_units_total{sku="apple",kind="sold"}')).toBe(1);
    // A second scrape after more events moves the counters (they are read, not kept).
    move('o1', 'confirmed', 'fulfilled', T0, [{ sku: 'apple', qty: 1 }]);
    const again = parseMetrics((await metrics.render()).body);
    expect(again.get('stockgate_orders_total{state="fulfilled"}')).toBe(1);
    expect(again.get('stockgate_orders_in_flight')).toBe(0);
  });
});

describe('per-SKU stock kept as sums', () => {
  const SEED = 20261205;
  it(`equals a fresh sum over every terminal's last inventory, through changes and removals (seed ${SEED})`, () => {
    console.log(`per-SKU sums: seed ${SEED}`);
    const rng = new Rng(SEED);
    const { stats } = setup({ lowStock: 5 });
    const last = new Map<string, Record<string, StockItem>>();
    const skus = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (let step = 0; step < 300; step++) {
      const tid = rng.pick(['t1', 't2', 't3', 't4']);
      const items: Record<string, StockItem> = {};
      // Keep, change or drop each SKU: the same item twice, a changed one, one no longer listed.
      for (const sku of skus) {
        if (rng.next() < 0.3) continue;
        const prev = last.get(tid)?.[sku];
        items[sku] =
          prev && rng.next() < 0.5
            ? { ...prev }
            : { onHand: rng.int(0, 20), reserved: rng.int(0, 3), committed: rng.int(0, 3) };
      }
      last.set(tid, items);
      stats.onInventory({ tid, items });
      const want: Record<
        string,
        { onHand: number; reserved: number; committed: number; available: number; terminals: number }
      > = {};
      for (const inv of last.values())
        for (const [sku, it] of Object.entries(inv)) {
          want[sku] ??= { onHand: 0, reserved: 0, committed: 0, available: 0, terminals: 0 };
          const w = want[sku];
          w.onHand += it.onHand;
          w.reserved += it.reserved;
          w.committed += it.committed;
          w.available += it.onHand - it.reserved - it.committed;
          w.terminals++;
        }
      const got = stats.skus(T0).skus;
      for (const [sku, w] of Object.entries(want)) {
        expect(got[sku], `step ${step} sku ${sku}`).toMatchObject({ ...w, low: w.available <= 5 });
      }
      // A SKU no terminal lists any more shows no stock (it stays listed, as sales may name it).
      for (const [sku, g] of Object.entries(got))
        if (!want[sku]) expect(g).toMatchObject({ onHand: 0, reserved: 0, committed: 0, terminals: 0 });
      expect(Object.keys(got)).toEqual([...Object.keys(got)].sort());
    }
  });
});
