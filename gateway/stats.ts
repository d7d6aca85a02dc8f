/**
 * The statistics service: the single writer of every counter, fed by the gateway's bus events.
 * It keeps counts by order state, rates over sliding windows, latency percentiles in HDR
 * histograms (accepted -> confirmed, confirmed -> fulfilled, command round trip per terminal),
 * health per terminal (online, prepare ok/fail, timeouts, breaker, faults in force) and sales and
 * stock per SKU. It publishes them about once a second, retained at QoS 0, on
 * `stockgate/stats/summary`, `stats/terminals/<tid>`, `stats/orders` and `stats/skus`; `/metrics`
 * (gateway/metrics.ts) reads the same numbers.
 *
 * Counters count since this gateway process started (`since`); open orders found in the journal
 * at start are put back (`restore`) so that in-flight counts and latencies carry on.
 */

import { logger } from '../lib/log.ts';
import {
  type AllocationEntry,
  type BreakerState,
  isFinal,
  ORDER_STATES,
  type OrderLine,
  type OrderState,
  type Percentiles,
  type RecentOrder,
  type SkuStats,
  type StatsOrders,
  type StatsSkus,
  type StatsSummary,
  type StatsTerminal,
  type StockItem,
  type Topics,
} from '../protocol/index.ts';
import type { Bus, BusEvents } from './bus.ts';
import { RollingHistogram, WindowCounter } from './stats/window.ts';

export type Publish = (topic: string, payload: string) => Promise<void> | void;

/** What the statistics may learn about an order beyond its bus event (lines, allocation, reason). */
export interface OrderDetails {
  lines?: readonly OrderLine[];
  allocation?: readonly AllocationEntry[];
  reason?: string;
}

export interface StatisticsOptions {
  /** How often to publish (ms). */
  intervalMs: number;
  /** The short rate window (s); rates60s is always over 60 s. */
  rateWindowS: number;
  /** The window of the latency percentiles (s). */
  latencyWindowS: number;
  /** How many recently changed orders `stats/orders` lists. */
  recentOrders: number;
  /** A SKU is low at a terminal (and overall) when its available stock is at or below this. */
  lowStock: number;
  /** A terminal's stats are re-published at least this often even when unchanged (ms). */
  refreshMs: number;
  now: () => number;
}

export const DEFAULT_STATS_OPTIONS: StatisticsOptions = {
  intervalMs: 1000,
  rateWindowS: 10,
  latencyWindowS: 10,
  recentOrders: 50,
  lowStock: 3,
  refreshMs: 10_000,
  now: Date.now,
};

export const LATENCY_KINDS = ['acceptedToConfirmed', 'confirmedToFulfilled', 'commandRtt'] as const;
export type LatencyKind = (typeof LATENCY_KINDS)[number];

const RATE_LONG_S = 60;

interface TerminalStats {
  online: boolean;
  breaker: BreakerState;
  prepareOk: number;
  prepareFail: number;
  timeouts: number;
  commands: number;
  rtt: RollingHistogram;
  stock: Record<string, StockItem>;
  faults: string[];
  lastJson: string;
  lastPublishedAt: number;
  /** Something it publishes changed since the last publish (events set it, tick clears it). */
  dirty: boolean;
}

/** Stock of one SKU summed over every terminal, kept up to date as inventories arrive. */
interface SkuStock {
  onHand: number;
  reserved: number;
  committed: number;
  available: number;
  terminals: number;
}

interface OpenOrder {
  acceptedAt: number;
  confirmedAt?: number;
}

interface SkuSales {
  sold: number;
  returned: number;
  fulfilled: number;
}

type Listener = { [K in keyof BusEvents]: [K, (...args: BusEvents[K]) => void] }[keyof BusEvents];

export class Statistics {
  readonly opts: StatisticsOptions;
  readonly since: number;
  private readonly log = logger('stats');
  private readonly counts: Record<OrderState, number>;
  private readonly rates = new Map<OrderState, WindowCounter>();
  private readonly latency: Record<LatencyKind, RollingHistogram>;
  private readonly open = new Map<string, OpenOrder>();
  private openAccepted = 0;
  private openConfirmed = 0;
  private readonly terminals = new Map<string, TerminalStats>();
  private readonly sales = new Map<string, SkuSales>();
  private readonly skuStock = new Map<string, SkuStock>();
  /** Every SKU seen (stock or sales), sorted; null when a new one came. */
  private sortedSkus: string[] | null = null;
  private readonly recent = new Map<string, RecentOrder>();
  private readonly refused = new Map<string, number>();
  private faultsActive = 0;
  private timer: NodeJS.Timeout | null = null;
  private listeners: Listener[] = [];
  private ordersDirty = true;
  private skusDirty = true;
  /** Publishes that failed (the broker was stopping): counted, never thrown. */
  publishErrors = 0;

  constructor(
    private readonly bus: Bus,
    private readonly topics: Topics,
    private readonly publish: Publish | null,
    opts: Partial<StatisticsOptions> = {},
    /** The order behind an event, for its lines and allocation (the gateway's order table). */
    private readonly details: (cid: string, orderId: string) => OrderDetails | undefined = () => undefined,
    /** The breaker's current state, asked at every publish (its open -> half-open is lazy). */
    private readonly breakerOf: ((tid: string) => BreakerState) | null = null,
  ) {
    this.opts = { ...DEFAULT_STATS_OPTIONS, ...opts };
    this.since = this.opts.now();
    this.counts = Object.fromEntries(ORDER_STATES.map((s) => [s, 0])) as Record<OrderState, number>;
    for (const s of ORDER_STATES) this.rates.set(s, new WindowCounter(RATE_LONG_S));
    const w = this.opts.latencyWindowS;
    this.latency = {
      acceptedToConfirmed: new RollingHistogram(w),
      confirmedToFulfilled: new RollingHistogram(w),
      commandRtt: new RollingHistogram(w),
    };
  }

  /** Listens to the bus and publishes every `intervalMs`. */
  start(): void {
    if (this.timer) return;
    const on = <K extends keyof BusEvents>(event: K, fn: (...args: BusEvents[K]) => void) => {
      this.bus.on(event, fn as never);
      this.listeners.push([event, fn] as unknown as Listener);
    };
    on('orderState', (e) => this.onOrderState(e));
    on('command', (e) => this.onCommand(e));
    on('commandTimeout', (e) => this.onCommandTimeout(e));
    on('terminal', (e) => this.onTerminal(e));
    on('inventory', (e) => this.onInventory(e));
    on('faults', (e) => this.onFaults(e));
    on('breaker', (e) => this.onBreaker(e));
    on('refused', (e) => this.onRefused(e));
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [event, fn] of this.listeners) this.bus.off(event, fn as never);
    this.listeners = [];
  }

  // ---- feeding (the bus listeners; also called directly by tests and the benchmark)

  onOrderState(e: BusEvents['orderState'][0]): void {
    const key = `${e.cid}\u0000${e.orderId}`;
    this.counts[e.to]++;
    this.rates.get(e.to)!.add(e.at);
    let open = this.open.get(key);
    if (e.to === 'accepted') {
      if (!open) {
        open = { acceptedAt: e.acceptedAt };
        this.open.set(key, open);
        this.openAccepted++;
      }
    } else if (e.to === 'confirmed') {
      this.latency.acceptedToConfirmed.record(e.at, e.at - e.acceptedAt);
      if (open && open.confirmedAt === undefined) this.openAccepted--;
      if (!open) {
        open = { acceptedAt: e.acceptedAt };
        this.open.set(key, open);
      }
      if (open.confirmedAt === undefined) this.openConfirmed++;
      open.confirmedAt = e.at;
    } else if (isFinal(e.to)) {
      if (open) {
        if (open.confirmedAt === undefined) this.openAccepted--;
        else this.openConfirmed--;
        this.open.delete(key);
      }
      if (e.to === 'fulfilled') {
        const confirmedAt = open?.confirmedAt;
        if (confirmedAt !== undefined) this.latency.confirmedToFulfilled.record(e.at, e.at - confirmedAt);
      }
    }

    const details = this.details(e.cid, e.orderId);
    const lines = details?.lines;
    if (
      lines &&
      (e.to === 'confirmed' || e.to === 'fulfilled' || (e.to === 'cancelled' && e.from === 'confirmed'))
    ) {
      for (const l of lines) {
        const s = this.sku(l.sku);
        if (e.to === 'confirmed') s.sold += l.qty;
        else if (e.to === 'fulfilled') s.fulfilled += l.qty;
        else s.returned += l.qty;
      }
      this.skusDirty = true;
    }

    const entry: RecentOrder = {
      cid: e.cid,
      orderId: e.orderId,
      state: e.to,
      acceptedAt: e.acceptedAt,
      at: e.at,
    };
    if (details?.reason !== undefined && isFinal(e.to)) entry.reason = details.reason;
    if (lines) {
      entry.units = lines.reduce((n, l) => n + l.qty, 0);
      entry.skus = lines.map((l) => l.sku);
    }
    if (details?.allocation && e.to !== 'accepted') {
      entry.terminals = [...new Set(details.allocation.map((a) => a.terminal))].sort();
    }
    this.recent.delete(key);
    this.recent.set(key, entry);
    if (this.recent.size > this.opts.recentOrders) {
      const oldest = this.recent.keys().next().value as string;
      this.recent.delete(oldest);
    }
    this.ordersDirty = true;
  }

  onCommand(e: BusEvents['command'][0]): void {
    const t = this.terminal(e.tid);
    const now = this.opts.now();
    t.dirty = true;
    t.commands++;
    t.rtt.record(now, e.rttMs);
    this.latency.commandRtt.record(now, e.rttMs);
    if (e.op === 'prepare') {
      if (e.ok) t.prepareOk++;
      else t.prepareFail++;
    }
  }

  onCommandTimeout(e: BusEvents['commandTimeout'][0]): void {
    const t = this.terminal(e.tid);
    t.timeouts++;
    t.dirty = true;
  }

  onTerminal(e: BusEvents['terminal'][0]): void {
    const t = this.terminal(e.tid);
    t.online = e.online;
    t.dirty = true;
  }

  onInventory(e: BusEvents['inventory'][0] & { items?: Record<string, StockItem> }): void {
    const t = this.terminal(e.tid);
    if (e.items) {
      this.restock(t.stock, e.items);
      t.stock = e.items;
      t.dirty = true;
      this.skusDirty = true;
    }
  }

  onFaults(e: BusEvents['faults'][0]): void {
    this.faultsActive = e.active.length;
    const byTerminal = new Map<string, string[]>();
    for (const f of e.active) {
      const m = /^(terminals|links)\/([A-Za-z0-9_-]{1,64})$/.exec(f.target);
      if (!m) continue;
      const tid = m[2]!;
      const list = byTerminal.get(tid) ?? [];
      list.push(m[1] === 'links' ? `link:${f.kind}` : f.kind);
      byTerminal.set(tid, list);
    }
    for (const tid of byTerminal.keys()) this.terminal(tid);
    for (const [tid, t] of this.terminals) {
      t.faults = (byTerminal.get(tid) ?? []).sort();
      t.dirty = true;
    }
  }

  onBreaker(e: BusEvents['breaker'][0]): void {
    const t = this.terminal(e.tid);
    t.breaker = e.state;
    t.dirty = true;
  }

  onRefused(e: BusEvents['refused'][0]): void {
    this.refused.set(e.code, (this.refused.get(e.code) ?? 0) + 1);
  }

  /** Puts back the open orders a restarted gateway found in its journal. */
  restore(
    orders: readonly {
      cid: string;
      orderId: string;
      state: OrderState;
      acceptedAt: number;
      updatedAt: number;
    }[],
  ): void {
    for (const o of orders) {
      if (isFinal(o.state)) continue;
      const key = `${o.cid}\u0000${o.orderId}`;
      if (this.open.has(key)) continue;
      if (o.state === 'confirmed') {
        this.open.set(key, { acceptedAt: o.acceptedAt, confirmedAt: o.updatedAt });
        this.openConfirmed++;
      } else {
        this.open.set(key, { acceptedAt: o.acceptedAt });
        this.openAccepted++;
      }
    }
  }

  // ---- reading (what is published, and what /metrics shows)

  summary(now = this.opts.now()): StatsSummary {
    const rates: Record<string, number> = {};
    const rates60s: Record<string, number> = {};
    for (const [state, counter] of this.rates) {
      rates[state] = round2(counter.rate(now, this.opts.rateWindowS, this.since));
      rates60s[state] = round2(counter.rate(now, RATE_LONG_S, this.since));
    }
    const latencyMs: Record<string, Percentiles> = {};
    for (const kind of LATENCY_KINDS) latencyMs[kind] = this.latency[kind].percentiles(now);
    let online = 0;
    for (const t of this.terminals.values()) if (t.online) online++;
    return {
      at: now,
      since: this.since,
      orders: { ...this.counts },
      open: { accepted: this.openAccepted, confirmed: this.openConfirmed },
      inFlight: this.openAccepted + this.openConfirmed,
      rates,
      rates60s,
      rateWindowS: this.opts.rateWindowS,
      latencyMs,
      latencyWindowS: this.opts.latencyWindowS,
      terminalsOnline: online,
      terminalsKnown: this.terminals.size,
      faultsActive: this.faultsActive,
      refused: Object.fromEntries(this.refused),
    };
  }

  terminalIds(): string[] {
    return [...this.terminals.keys()].sort();
  }

  terminalStats(tid: string, now = this.opts.now()): StatsTerminal | undefined {
    const t = this.terminals.get(tid);
    if (!t) return undefined;
    if (this.breakerOf) t.breaker = this.breakerOf(tid);
    const low: string[] = [];
    for (const [sku, item] of Object.entries(t.stock)) {
      if (available(item) <= this.opts.lowStock) low.push(sku);
    }
    return {
      at: now,
      online: t.online,
      breaker: t.breaker,
      prepareOk: t.prepareOk,
      prepareFail: t.prepareFail,
      timeouts: t.timeouts,
      rttMs: t.rtt.percentiles(now),
      stock: t.stock,
      faults: t.faults,
      low: low.sort(),
    };
  }

  /** The command round trips recorded for a terminal since the start (for /metrics). */
  terminalCommands(tid: string): { count: number; sumMs: number } {
    const t = this.terminals.get(tid);
    return { count: t?.rtt.total ?? 0, sumMs: t?.rtt.sum ?? 0 };
  }

  /** Observations recorded for a latency kind since the start (for /metrics). */
  latencyTotals(kind: LatencyKind): { count: number; sumMs: number } {
    return { count: this.latency[kind].total, sumMs: this.latency[kind].sum };
  }

  recentOrders(now = this.opts.now()): StatsOrders {
    return { at: now, recent: [...this.recent.values()].reverse() };
  }

  skus(now = this.opts.now()): StatsSkus {
    // Kept sums, not a scan of every terminal's stock: at 1,000 terminals x 50 SKUs the scan
    // held the event loop for ~40 ms every second.
    if (!this.sortedSkus) {
      const all = new Set([...this.skuStock.keys(), ...this.sales.keys()]);
      this.sortedSkus = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    const skus: Record<string, SkuStats> = {};
    for (const sku of this.sortedSkus) {
      const s = this.sales.get(sku);
      const st = this.skuStock.get(sku);
      const avail = st?.available ?? 0;
      skus[sku] = {
        sold: s?.sold ?? 0,
        returned: s?.returned ?? 0,
        fulfilled: s?.fulfilled ?? 0,
        onHand: st?.onHand ?? 0,
        reserved: st?.reserved ?? 0,
        committed: st?.committed ?? 0,
        available: avail,
        terminals: st?.terminals ?? 0,
        low: avail <= this.opts.lowStock,
      };
    }
    return { at: now, lowStock: this.opts.lowStock, skus };
  }

  /** Moves the per-SKU sums from a terminal's previous stock to its new one (changed items only). */
  private restock(
    before: Readonly<Record<string, StockItem>>,
    after: Readonly<Record<string, StockItem>>,
  ): void {
    for (const sku in before) {
      if (!Object.hasOwn(before, sku)) continue;
      const was = before[sku]!;
      const now = Object.hasOwn(after, sku) ? after[sku] : undefined;
      if (now && sameItem(was, now)) continue;
      const st = this.skuStock.get(sku)!;
      st.onHand -= was.onHand;
      st.reserved -= was.reserved;
      st.committed -= was.committed;
      st.available -= available(was);
      if (!now) st.terminals--;
    }
    for (const sku in after) {
      if (!Object.hasOwn(after, sku)) continue;
      const now = after[sku]!;
      const was = Object.hasOwn(before, sku) ? before[sku] : undefined;
      if (was && sameItem(was, now)) continue;
      let st = this.skuStock.get(sku);
      if (!st) {
        st = { onHand: 0, reserved: 0, committed: 0, available: 0, terminals: 0 };
        this.skuStock.set(sku, st);
        this.sortedSkus = null;
      }
      st.onHand += now.onHand;
      st.reserved += now.reserved;
      st.committed += now.committed;
      st.available += available(now);
      if (!was) st.terminals++;
    }
  }

  // ---- publishing

  /** Publishes what is due now: the summary always, the rest when changed (or every refreshMs). */
  tick(): void {
    if (!this.publish) return;
    const now = this.opts.now();
    const t = this.topics;
    this.send(t.statsSummary(), JSON.stringify(this.summary(now)));
    for (const [tid, ts] of this.terminals) {
      // Only terminals something happened to (a quiet terminal's command latencies may roll out
      // of their window meanwhile: they are refreshed every refreshMs, the window's own length).
      const breaker = this.breakerOf?.(tid);
      if (breaker !== undefined && breaker !== ts.breaker) ts.dirty = true;
      if (!ts.dirty && now - ts.lastPublishedAt < this.opts.refreshMs) continue;
      ts.dirty = false;
      const stats = this.terminalStats(tid, now)!;
      const { at: _at, ...content } = stats;
      const json = JSON.stringify(content);
      if (json === ts.lastJson && now - ts.lastPublishedAt < this.opts.refreshMs) continue;
      ts.lastJson = json;
      ts.lastPublishedAt = now;
      // The same JSON with `at` in front: serialising 50 stock items twice per terminal showed.
      this.send(t.statsTerminal(tid), `{"at":${now},${json.slice(1)}`);
    }
    if (this.ordersDirty) {
      this.ordersDirty = false;
      this.send(t.statsOrders(), JSON.stringify(this.recentOrders(now)));
    }
    if (this.skusDirty) {
      this.skusDirty = false;
      this.send(t.statsSkus(), JSON.stringify(this.skus(now)));
    }
  }

  private send(topic: string, payload: string): void {
    try {
      const r = this.publish?.(topic, payload);
      if (r) r.catch(() => this.failed(topic));
    } catch {
      this.failed(topic);
    }
  }

  private failed(topic: string): void {
    this.publishErrors++;
    if (this.publishErrors === 1) this.log.warn({ topic }, 'stats publish failed');
  }

  private terminal(tid: string): TerminalStats {
    let t = this.terminals.get(tid);
    if (!t) {
      t = {
        online: false,
        breaker: 'closed',
        prepareOk: 0,
        prepareFail: 0,
        timeouts: 0,
        commands: 0,
        rtt: new RollingHistogram(this.opts.latencyWindowS),
        stock: {},
        faults: [],
        lastJson: '',
        lastPublishedAt: 0,
        dirty: true,
      };
      this.terminals.set(tid, t);
    }
    return t;
  }

  private sku(sku: string): SkuSales {
    let s = this.sales.get(sku);
    if (!s) {
      s = { sold: 0, returned: 0, fulfilled: 0 };
      this.sales.set(sku, s);
      if (!this.skuStock.has(sku)) this.sortedSkus = null;
    }
    return s;
  }
}

function available(item: StockItem): number {
  return item.onHand - item.reserved - item.committed;
}

function sameItem(a: StockItem, b: StockItem): boolean {
  return a.onHand === b.onHand && a.reserved === b.reserved && a.committed === b.committed;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
