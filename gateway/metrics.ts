/**
 * `/metrics`: the statistics in the Prometheus text format, through prom-client. Nothing here
 * counts anything: every metric reads the Statistics (the single writer) when it is scraped, so
 * `/metrics` and `stockgate/stats/...` always tell the same story.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import {
  BREAKER_STATES,
  ORDER_STATES,
  type StatsSkus,
  type StatsSummary,
  type StatsTerminal,
} from '../protocol/index.ts';
import { LATENCY_KINDS, type Statistics } from './stats.ts';

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
  ['1', 'max'],
] as const;

/** What one scrape reads, each part computed once on first use. */
class Snapshot {
  private s?: StatsSummary;
  private t?: { tid: string; stats: StatsTerminal; rtt: { count: number; sumMs: number } }[];
  private k?: StatsSkus;
  constructor(private readonly stats: Statistics) {}
  summary(): StatsSummary {
    this.s ??= this.stats.summary();
    return this.s;
  }
  terminals() {
    this.t ??= this.stats.terminalIds().map((tid) => ({
      tid,
      stats: this.stats.terminalStats(tid)!,
      rtt: this.stats.terminalCommands(tid),
    }));
    return this.t;
  }
  skus(): StatsSkus {
    this.k ??= this.stats.skus();
    return this.k;
  }
}

export class Metrics {
  readonly registry = new Registry();
  private scrape: Snapshot | null = null;

  constructor(private readonly stats: Statistics) {
    const r = [this.registry];
    const snap = () => this.scrape ?? new Snapshot(stats);
    const snapshot = () => snap().summary();
    const terminals = () => snap().terminals();
    const skus = () => snap().skus();

    new Counter({
      name: 'stockgate_orders_total',
      help: 'Orders that entered each state since the gateway started',
      labelNames: ['state'],
      registers: r,
      collect() {
        this.reset();
        const s = snapshot();
        for (const state of ORDER_STATES) this.inc({ state }, s.orders[state]);
      },
    });
    new Gauge({
      name: 'stockgate_orders_open',
      help: 'Orders not in a final state, by state',
      labelNames: ['state'],
      registers: r,
      collect() {
        const s = snapshot();
        this.set({ state: 'accepted' }, s.open?.accepted ?? 0);
        this.set({ state: 'confirmed' }, s.open?.confirmed ?? 0);
      },
    });
    new Gauge({
      name: 'stockgate_orders_in_flight',
      help: 'Orders accepted and not yet in a final state',
      registers: r,
      collect() {
        this.set(snapshot().inFlight);
      },
    });
    new Gauge({
      name: 'stockgate_order_rate',
      help: 'Orders per second entering each state, over a sliding window',
      labelNames: ['state', 'window'],
      registers: r,
      collect() {
        const s = snapshot();
        for (const state of ORDER_STATES) {
          this.set({ state, window: `${s.rateWindowS}s` }, s.rates[state] ?? 0);
          this.set({ state, window: '60s' }, s.rates60s?.[state] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'stockgate_latency_ms',
      help: 'Latency percentiles (HDR histogram) over the last latencyWindowS seconds',
      labelNames: ['kind', 'quantile'],
      registers: r,
      collect() {
        const s = snapshot();
        for (const kind of LATENCY_KINDS) {
          const p = s.latencyMs[kind];
          if (!p) continue;
          for (const [quantile, key] of QUANTILES) this.set({ kind, quantile }, p[key]);
        }
      },
    });
    new Counter({
      name: 'stockgate_latency_observations_total',
      help: 'Latencies recorded since the gateway started',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        for (const kind of LATENCY_KINDS) this.inc({ kind }, stats.latencyTotals(kind).count);
      },
    });
    new Counter({
      name: 'stockgate_latency_ms_sum',
      help: 'Sum of the latencies recorded since the gateway started (ms)',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        for (const kind of LATENCY_KINDS) this.inc({ kind }, stats.latencyTotals(kind).sumMs);
      },
    });
    new Gauge({
      name: 'stockgate_terminals',
      help: 'Terminals known and online',
      labelNames: ['status'],
      registers: r,
      collect() {
        const s = snapshot();
        this.set({ status: 'known' }, s.terminalsKnown);
        this.set({ status: 'online' }, s.terminalsOnline);
      },
    });
    new Gauge({
      name: 'stockgate_faults_active',
      help: 'Faults in force',
      registers: r,
      collect() {
        this.set(snapshot().faultsActive ?? 0);
      },
    });
    new Counter({
      name: 'stockgate_refused_total',
      help: 'Inputs refused, by error code',
      labelNames: ['code'],
      registers: r,
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(snapshot().refused ?? {})) this.inc({ code }, n);
      },
    });
    new Gauge({
      name: 'stockgate_terminal_online',
      help: 'Whether the terminal is online (1) or not (0)',
      labelNames: ['terminal'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) this.set({ terminal: t.tid }, t.stats.online ? 1 : 0);
      },
    });
    new Gauge({
      name: 'stockgate_terminal_breaker',
      help: "The terminal's circuit breaker: 1 for its current state",
      labelNames: ['terminal', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals())
          for (const state of BREAKER_STATES)
            this.set({ terminal: t.tid, state }, t.stats.breaker === state ? 1 : 0);
      },
    });
    new Counter({
      name: 'stockgate_terminal_prepares_total',
      help: 'Prepare commands answered, by outcome',
      labelNames: ['terminal', 'outcome'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) {
          this.inc({ terminal: t.tid, outcome: 'ok' }, t.stats.prepareOk);
          this.inc({ terminal: t.tid, outcome: 'fail' }, t.stats.prepareFail);
        }
      },
    });
    new Counter({
      name: 'stockgate_terminal_timeouts_total',
      help: 'Commands to the terminal that were not answered in time',
      labelNames: ['terminal'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) this.inc({ terminal: t.tid }, t.stats.timeouts);
      },
    });
    new Counter({
      name: 'stockgate_terminal_commands_total',
      help: 'Commands answered by the terminal',
      labelNames: ['terminal'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) this.inc({ terminal: t.tid }, t.rtt.count);
      },
    });
    new Gauge({
      name: 'stockgate_terminal_rtt_ms',
      help: 'Command round trip percentiles per terminal (HDR histogram) over the latency window',
      labelNames: ['terminal', 'quantile'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) {
          const p = t.stats.rttMs;
          if (!p) continue;
          for (const [quantile, key] of QUANTILES) this.set({ terminal: t.tid, quantile }, p[key]);
        }
      },
    });
    new Gauge({
      name: 'stockgate_terminal_faults',
      help: 'Faults in force on the terminal or its link',
      labelNames: ['terminal'],
      registers: r,
      collect() {
        this.reset();
        for (const t of terminals()) this.set({ terminal: t.tid }, t.stats.faults?.length ?? 0);
      },
    });
    new Gauge({
      name: 'stockgate_stock_units',
      help: 'Stock per SKU over every terminal',
      labelNames: ['sku', 'kind'],
      registers: r,
      collect() {
        this.reset();
        for (const [sku, s] of Object.entries(skus().skus)) {
          this.set({ sku, kind: 'onHand' }, s.onHand);
          this.set({ sku, kind: 'reserved' }, s.reserved);
          this.set({ sku, kind: 'committed' }, s.committed);
          this.set({ sku, kind: 'available' }, s.available);
        }
      },
    });
    new Counter({
      name: 'stockgate_sku_units_total',
      help: 'Units per SKU of orders confirmed (sold), cancelled after confirm (returned) and fulfilled',
      labelNames: ['sku', 'kind'],
      registers: r,
      collect() {
        this.reset();
        for (const [sku, s] of Object.entries(skus().skus)) {
          this.inc({ sku, kind: 'sold' }, s.sold);
          this.inc({ sku, kind: 'returned' }, s.returned);
          this.inc({ sku, kind: 'fulfilled' }, s.fulfilled);
        }
      },
    });
    new Gauge({
      name: 'stockgate_gateway_resident_memory_bytes',
      help: "The gateway process's resident set size",
      registers: r,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Counter({
      name: 'stockgate_gateway_cpu_seconds_total',
      help: 'CPU time of the gateway process',
      labelNames: ['mode'],
      registers: r,
      collect() {
        this.reset();
        const u = process.cpuUsage();
        this.inc({ mode: 'user' }, u.user / 1e6);
        this.inc({ mode: 'system' }, u.system / 1e6);
      },
    });
  }

  /** The HTTP route's answer. */
  async render(): Promise<{ status: number; type: string; body: string }> {
    this.scrape = new Snapshot(this.stats);
    try {
      return { status: 200, type: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.scrape = null;
    }
  }
}
