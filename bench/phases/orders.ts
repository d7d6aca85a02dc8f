/**
 * Orders: the highest offered rate the system sustains for a fixed workload (20 terminals x 50 SKUs
 * on average, 200 client identities with one connection each, 1-3 lines of 1-3 units per order,
 * open-loop Poisson arrivals), and the latency from `accepted` to `confirmed`.
 *
 * Sustainable: over a step at a constant offered rate, the orders resolved keep up with the orders
 * placed (>= 95%), the orders in flight stay bounded (at most half a second's worth, and at least
 * 20 allowed), and nothing is refused or lost. The search raises the rate by half until a step
 * fails, then bisects between the last pass and the first failure. Steps are separated by a drain (no arrivals
 * until nothing is in flight), so each one starts from the same state.
 */
import { type BenchContext, sleep } from '../lib/context.ts';
import { cores, LoadWindow, procSample, round } from '../lib/machine.ts';
import { BenchSystem, type SystemSpec } from '../lib/system.ts';

export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface Snapshot {
  at: number;
  placed: number;
  resolved: number;
  confirmed: number;
  rejected: number;
  failed: number;
  refused: number;
  lost: number;
  fulfilled: number;
  resends: number;
  queries: number;
  inFlight: number;
  oldestInFlightMs: number;
  errorsByCode: Record<string, number>;
  acceptedToConfirmed: Latency;
  placeToAccepted: Latency;
}

export interface StepResult {
  offered: number;
  seconds: number;
  placedPerS: number;
  resolvedPerS: number;
  confirmedPerS: number;
  inFlightEnd: number;
  oldestInFlightMs: number;
  rejected: number;
  failed: number;
  refused: number;
  lost: number;
  sustained: boolean;
  why?: string;
  acceptedToConfirmedMs: Latency;
  placeToAcceptedMs: Latency;
  cores: { gateway: number; terminals: number; clients: number; others: number };
  /** CPU time per resolved order, ms: robust to a busy machine where rates and latencies are not. */
  cpuMsPerOrder: { gateway: number; terminals: number; clients: number };
  gatewayRssMiB: number;
  /** Per resolved order: the terminals' replies (= commands), inventory publishes and picks. */
  terminalMessagesPerOrder: { replies: number; inventories: number; picks: number } | null;
}

interface FleetStats {
  replies: number;
  inventories: number;
  picked: number;
}

async function fleetStats(sys: BenchSystem): Promise<FleetStats | null> {
  try {
    const all = await Promise.all(sys.terminalWorkers.map((w) => w.call<FleetStats>('stats')));
    return all.reduce(
      (t, s) => ({
        replies: t.replies + s.replies,
        inventories: t.inventories + s.inventories,
        picked: t.picked + s.picked,
      }),
      { replies: 0, inventories: 0, picked: 0 },
    );
  } catch {
    return null;
  }
}

export interface OrdersResult {
  workload: {
    terminals: number;
    skus: number;
    slots: number;
    skusPerTerminal: number;
    clients: number;
    lines: string;
    qty: string;
    arrivals: string;
  };
  steps: StepResult[];
  maxSustainedPerS: number;
  atMax: StepResult | null;
  atHalf: StepResult | null;
}

export function ordersSpec(ctx: BenchContext, extra: Partial<SystemSpec> = {}): SystemSpec {
  return {
    name: 'orders',
    terminals: ctx.quick ? 5 : 20,
    skusPerTerminal: ctx.quick ? 10 : 50,
    initialStock: [2000, 4000],
    clients: ctx.quick ? 20 : 200,
    seed: ctx.seed,
    // One client identity may have 100 orders in flight (the default) and publish 500 messages/s.
    gatewayEnv: { STOCKGATE_LOG_LEVEL: 'warn' },
    ...extra,
  };
}

export async function startOrderSystem(ctx: BenchContext, spec: SystemSpec): Promise<BenchSystem> {
  const sys = new BenchSystem(ctx, spec);
  ctx.log(
    `${spec.name}: ${spec.terminals} terminals x ~${spec.skusPerTerminal} SKUs, ${spec.clients} clients: provisioning, starting the gateway`,
  );
  await sys.provision();
  await sys.startGateway();
  const t = await sys.startTerminals();
  ctx.log(
    `${spec.name}: ${spec.terminals} terminals online (${sys.slots} terminal x SKU slots) in ${(t.onlineMs / 1000).toFixed(1)} s`,
  );
  const c = await sys.startClients(`${spec.name}${ctx.seed.toString(36)}`);
  ctx.log(`${spec.name}: ${spec.clients} client connections in ${(c.ms / 1000).toFixed(1)} s`);
  return sys;
}

/** One step at a constant offered rate: ramp, measure, stop arrivals (no drain). */
export async function step(
  _ctx: BenchContext,
  sys: BenchSystem,
  rate: number,
  ms: number,
  rampMs: number,
): Promise<StepResult> {
  const clients = sys.clients!;
  await clients.call('setRate', { rate });
  await sleep(rampMs);
  const pids = {
    gateway: sys.gateway.pid,
    clients: clients.pid,
    terminals: sys.terminalWorkers.map((w) => w.pid),
  };
  const load = new LoadWindow([pids.gateway, pids.clients, ...pids.terminals]);
  const before = {
    g: procSample(pids.gateway),
    c: procSample(pids.clients),
    t: pids.terminals.map((p) => procSample(p)),
  };
  const s0 = await clients.call<Snapshot>('snapshot', { reset: true });
  const f0 = await fleetStats(sys);
  // A step far past what the system sustains is cut short: its backlog would spoil the next steps.
  const cutAt = Math.max(500, rate * 2) + s0.inFlight;
  let cut = false;
  for (const end = performance.now() + ms; performance.now() < end; ) {
    await sleep(Math.min(500, end - performance.now()));
    const s = await clients.call<Snapshot>('snapshot', {});
    if (s.inFlight > cutAt) {
      cut = true;
      break;
    }
  }
  const s1 = await clients.call<Snapshot>('snapshot', { reset: true });
  const f1 = await fleetStats(sys);
  const after = {
    g: procSample(pids.gateway),
    c: procSample(pids.clients),
    t: pids.terminals.map((p) => procSample(p)),
  };
  const machine = load.end();
  await clients.call('setRate', { rate: 0 });
  const seconds = (s1.at - s0.at) / 1000;
  const placed = s1.placed - s0.placed;
  const resolved = s1.resolved - s0.resolved;
  const refused = s1.refused - s0.refused;
  const lost = s1.lost - s0.lost;
  const bound = Math.max(20, rate * 0.5);
  const why = cut
    ? `cut short: more than ${cutAt} in flight`
    : resolved < 0.95 * placed
      ? `resolved ${resolved} of ${placed} placed`
      : s1.inFlight > bound
        ? `${s1.inFlight} in flight at the end (bound ${Math.round(bound)})`
        : refused > 0
          ? `${refused} refused (${Object.keys(s1.errorsByCode).join(', ')})`
          : lost > 0
            ? `${lost} lost`
            : undefined;
  const c = (a: ReturnType<typeof procSample>, b: ReturnType<typeof procSample>) =>
    a && b ? cores(a, b) : 0;
  return {
    offered: rate,
    seconds: round(seconds, 1),
    placedPerS: round(placed / seconds, 1),
    resolvedPerS: round(resolved / seconds, 1),
    confirmedPerS: round((s1.confirmed - s0.confirmed) / seconds, 1),
    inFlightEnd: s1.inFlight,
    oldestInFlightMs: s1.oldestInFlightMs,
    rejected: s1.rejected - s0.rejected,
    failed: s1.failed - s0.failed,
    refused,
    lost,
    sustained: why === undefined,
    ...(why ? { why } : {}),
    acceptedToConfirmedMs: s1.acceptedToConfirmed,
    placeToAcceptedMs: s1.placeToAccepted,
    cores: {
      gateway: round(c(before.g, after.g), 2),
      clients: round(c(before.c, after.c), 2),
      terminals: round(
        before.t.reduce((sum, b, i) => sum + c(b, after.t[i] ?? null), 0),
        2,
      ),
      others: machine.otherCores,
    },
    cpuMsPerOrder: {
      gateway: perOrder(c(before.g, after.g), resolved / seconds),
      terminals: perOrder(
        before.t.reduce((sum, b, i) => sum + c(b, after.t[i] ?? null), 0),
        resolved / seconds,
      ),
      clients: perOrder(c(before.c, after.c), resolved / seconds),
    },
    gatewayRssMiB: round((after.g?.rssBytes ?? 0) / 2 ** 20, 0),
    terminalMessagesPerOrder:
      f0 && f1 && resolved > 0
        ? {
            replies: round((f1.replies - f0.replies) / resolved, 2),
            inventories: round((f1.inventories - f0.inventories) / resolved, 2),
            picks: round((f1.picked - f0.picked) / resolved, 2),
          }
        : null,
  };
}

function perOrder(cores: number, perS: number): number {
  return perS > 0 ? round((cores * 1000) / perS, 3) : 0;
}

/** Waits until nothing is in flight (or the timeout). */
export async function drain(sys: BenchSystem, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const s = await sys.clients!.call<Snapshot>('snapshot', {});
    if (s.inFlight === 0 || performance.now() - t0 > timeoutMs) return s.inFlight;
    await sleep(100);
  }
}

export function describeStep(s: StepResult): string {
  const l = s.acceptedToConfirmedMs;
  return `offered ${s.offered}/s: placed ${s.placedPerS}/s, resolved ${s.resolvedPerS}/s, in flight ${s.inFlightEnd}, p50 ${l.p50} ms p99 ${l.p99} ms max ${l.max} ms, gateway ${s.cores.gateway} cores (${s.cpuMsPerOrder.gateway} ms CPU/order), others ${s.cores.others} -> ${s.sustained ? 'sustained' : `not sustained (${s.why})`}`;
}

export async function runOrders(ctx: BenchContext, sys: BenchSystem): Promise<OrdersResult> {
  const stepMs = ctx.quick ? 2000 : 6000;
  const rampMs = ctx.quick ? 500 : 1500;
  const steps: StepResult[] = [];
  const run = async (rate: number, ms = stepMs): Promise<StepResult> => {
    const r = await step(ctx, sys, rate, ms, rampMs);
    const left = await drain(sys, 60_000);
    ctx.log(`orders: ${describeStep(r)}${left > 0 ? ` (${left} still in flight after the drain)` : ''}`);
    steps.push(r);
    return r;
  };
  // Warm-up (JIT, SQLite caches, connections): not counted.
  ctx.log('orders: warm-up');
  await step(ctx, sys, ctx.quick ? 10 : 50, ctx.quick ? 1000 : 3000, 0);
  await drain(sys, 30_000);

  let lo = 0;
  let hi = 0;
  let rate = ctx.quick ? 20 : 100;
  const maxRate = ctx.quick ? 40 : 12_800;
  // Up: double until a step fails.
  for (;;) {
    const r = await run(rate);
    if (!r.sustained) {
      hi = rate;
      break;
    }
    lo = rate;
    if (rate >= maxRate) break;
    // x1.5: a failing step is at most 50% past the last good one (a small backlog to drain).
    rate = Math.round(rate * 1.5);
  }
  // Then bisect (to within ~6%).
  if (hi > 0 && lo > 0 && !ctx.quick) {
    for (let i = 0; i < 3; i++) {
      const mid = Math.round((lo + hi) / 2);
      const r = await run(mid);
      if (r.sustained) lo = mid;
      else hi = mid;
    }
  }
  const atMax = [...steps].reverse().find((s) => s.sustained && s.offered === lo) ?? null;
  let atHalf: StepResult | null = null;
  if (lo > 0) {
    ctx.log(`orders: latency at half the maximum (${Math.round(lo / 2)}/s)`);
    atHalf = await run(Math.max(1, Math.round(lo / 2)), ctx.quick ? stepMs : 2 * stepMs);
  }
  return {
    workload: {
      terminals: sys.spec.terminals,
      skus: sys.skus.length,
      slots: sys.slots,
      skusPerTerminal: round(sys.slots / sys.spec.terminals, 1),
      clients: sys.spec.clients,
      lines: '1..3',
      qty: '1..3',
      arrivals: 'open loop, Poisson',
    },
    steps,
    maxSustainedPerS: lo,
    atMax,
    atHalf,
  };
}
