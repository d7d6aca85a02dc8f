/**
 * `npm run bench`, after aedes' own benchmarks/ folder: the same workloads every time, each part in
 * its own process, a table printed, and the results written to <out>/<timestamp>.json and
 * <out>/latest.json.
 *
 * Phases: baseline (raw QoS1 request/response through a plain aedes, and mosquitto when installed),
 * orders (maximum sustainable orders/s, latency), scale (1,000 terminals and 10,000 clients on one
 * node), recovery (gateway killed under load and restarted), profile (opt-in: --cpu-prof of every
 * process under the order workload, top overheads). Absolute figures depend on the machine and on
 * what else runs on it: compare ratios measured in the same run, and read the load columns.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { type MachineInfo, machineInfo, round } from './lib/machine.ts';
import { renderTable } from './lib/table.ts';
import { type BaselineResult, runBaseline } from './phases/baseline.ts';
import { type OrdersResult, ordersSpec, runOrders, startOrderSystem } from './phases/orders.ts';
import { type ProfileResult, runProfile } from './phases/profile.ts';
import { type RecoveryResult, runRecovery } from './phases/recovery.ts';
import { runScale, type ScaleResult } from './phases/scale.ts';

export const PHASES = ['baseline', 'orders', 'scale', 'recovery', 'profile'] as const;
export const DEFAULT_SEED = 20260101;
export type Phase = (typeof PHASES)[number];

export interface BenchOptions {
  quick: boolean;
  phases: Phase[];
  outDir: string;
  seed: number;
  keep?: boolean;
  profileRate?: number;
  recoveryRate?: number;
  log?: (line: string) => void;
}

export interface Target {
  name: string;
  target: string;
  value: number | null;
  unit: string;
  met: boolean | null;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  quick: boolean;
  seed: number;
  phases: Phase[];
  command: string;
  machine: MachineInfo & { loadavgEnd: number[] };
  baseline: BaselineResult | null;
  orders:
    | (OrdersResult & {
        ratio: {
          toAedes: number | null;
          toMosquitto: number | null;
          /** Gateway CPU per order at the maximum / aedes' CPU per raw round trip: machine load cancels out. */
          cpuRoundTripsPerOrder: number | null;
        };
      })
    | null;
  scale: ScaleResult | null;
  recovery: RecoveryResult | null;
  profile: ProfileResult | null;
  targets: Target[];
  errors: { phase: Phase; message: string }[];
}

export async function runBench(opts: BenchOptions): Promise<{ result: BenchResult; file: string }> {
  const t0 = Date.now();
  const stamp = new Date(t0).toISOString().replace(/[:.]/g, '-');
  mkdirSync(opts.outDir, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'stockgate-bench-'));
  const log = opts.log ?? ((line: string) => process.stderr.write(`bench: ${line}\n`));
  const ctx: BenchContext = {
    quick: opts.quick,
    profile: opts.phases.includes('profile'),
    seed: opts.seed,
    workDir,
    outDir: opts.outDir,
    stamp,
    log,
    workers: new Set(),
    procs: new Set(),
  };
  const machine = machineInfo();
  log(
    `${opts.quick ? 'quick, ' : ''}phases ${opts.phases.join(', ')}; ${machine.nproc} cores (${machine.cpuModel}), node ${machine.node}, load average ${machine.loadavg.join(' ')}; scratch ${workDir}`,
  );
  const result: BenchResult = {
    version: 1,
    startedAt: new Date(t0).toISOString(),
    finishedAt: '',
    durationS: 0,
    quick: opts.quick,
    seed: opts.seed,
    phases: opts.phases,
    command: commandLine(opts),
    machine: { ...machine, loadavgEnd: [] },
    baseline: null,
    orders: null,
    scale: null,
    recovery: null,
    profile: null,
    targets: [],
    errors: [],
  };
  const killAll = () => {
    for (const w of ctx.workers) w.kill();
    for (const p of ctx.procs) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const attempt = async (phase: Phase, fn: () => Promise<void>) => {
    if (!opts.phases.includes(phase)) return;
    try {
      await fn();
    } catch (err) {
      const message = (err as Error).message;
      log(`${phase} failed: ${message}`);
      result.errors.push({ phase, message });
    }
  };

  try {
    await attempt('baseline', async () => {
      result.baseline = await runBaseline(ctx);
    });
    // Orders, then recovery on the same system (it is already under the order workload).
    if (opts.phases.includes('orders') || opts.phases.includes('recovery')) {
      let sys: Awaited<ReturnType<typeof startOrderSystem>> | null = null;
      await attempt(opts.phases.includes('orders') ? 'orders' : 'recovery', async () => {
        sys = await startOrderSystem(ctx, ordersSpec(ctx));
      });
      if (sys) {
        const system = sys as Awaited<ReturnType<typeof startOrderSystem>>;
        await attempt('orders', async () => {
          const orders = await runOrders(ctx, system);
          const aedes = result.baseline?.aedes.roundTripsPerS ?? null;
          const mq = result.baseline?.mosquitto;
          const mosq = mq && 'roundTripsPerS' in mq ? mq.roundTripsPerS : null;
          result.orders = {
            ...orders,
            ratio: {
              toAedes: aedes ? round(orders.maxSustainedPerS / aedes, 4) : null,
              toMosquitto: mosq ? round(orders.maxSustainedPerS / mosq, 4) : null,
              cpuRoundTripsPerOrder:
                orders.atMax && result.baseline?.aedes.cpuUsPerRoundTrip.broker
                  ? round(
                      (orders.atMax.cpuMsPerOrder.gateway * 1000) /
                        result.baseline.aedes.cpuUsPerRoundTrip.broker,
                      1,
                    )
                  : null,
            },
          };
        });
        await attempt('recovery', async () => {
          const rate =
            opts.recoveryRate ??
            (result.orders?.maxSustainedPerS
              ? Math.max(10, Math.round(result.orders.maxSustainedPerS / 2))
              : ctx.quick
                ? 10
                : 100);
          result.recovery = await runRecovery(ctx, system, rate);
        });
        await system.stop().catch((err: Error) => log(`stopping the order system: ${err.message}`));
      }
    }
    await attempt('scale', async () => {
      result.scale = await runScale(ctx);
    });
    await attempt('profile', async () => {
      const max = result.orders?.maxSustainedPerS;
      const rate = opts.profileRate ?? (max ? Math.max(10, Math.round(max * 0.7)) : ctx.quick ? 20 : 200);
      result.profile = await runProfile(ctx, rate);
    });
  } finally {
    killAll();
    process.off('exit', killAll);
    if (!opts.keep) rmSync(workDir, { recursive: true, force: true });
    else log(`scratch kept in ${workDir}`);
  }

  result.targets = targets(result);
  result.finishedAt = new Date().toISOString();
  result.durationS = round((Date.now() - t0) / 1000, 1);
  result.machine.loadavgEnd = machineInfo().loadavg;
  const file = join(opts.outDir, `${stamp}.json`);
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(file, text);
  writeFileSync(join(opts.outDir, 'latest.json'), text);
  process.stdout.write(renderTable(result));
  return { result, file };
}

/** The command that runs the same phases again. */
function commandLine(opts: BenchOptions): string {
  const args = [
    ...(opts.quick ? ['--quick'] : []),
    ...(opts.phases.join(',') === PHASES.filter((p) => p !== 'profile').join(',')
      ? []
      : opts.phases.join(',') === PHASES.join(',')
        ? ['--profile']
        : [`--only ${opts.phases.join(',')}`]),
    ...(opts.profileRate !== undefined ? [`--profile-rate ${opts.profileRate}`] : []),
    ...(opts.recoveryRate !== undefined ? [`--recovery-rate ${opts.recoveryRate}`] : []),
    ...(opts.seed !== DEFAULT_SEED ? [`--seed ${opts.seed}`] : []),
  ];
  return args.length > 0 ? `npm run bench -- ${args.join(' ')}` : 'npm run bench';
}

function targets(r: BenchResult): Target[] {
  const t = (
    name: string,
    target: string,
    value: number | null | undefined,
    unit: string,
    ok: (v: number) => boolean,
  ): Target => ({
    name,
    target,
    value: value ?? null,
    unit,
    met: value === null || value === undefined ? null : ok(value),
  });
  return [
    t('orders/s to raw aedes round trips/s', '>= 0.3', r.orders?.ratio.toAedes, '', (v) => v >= 0.3),
    t(
      'p99 accepted->confirmed at half the maximum rate',
      '<= 20 ms',
      r.orders?.atHalf?.acceptedToConfirmedMs.p99,
      'ms',
      (v) => v <= 20,
    ),
    t(
      'gateway RSS, scale workload under load',
      '<= 1024 MiB',
      r.scale?.underLoad?.gateway.rssMiB,
      'MiB',
      (v) => v <= 1024,
    ),
    t(
      'recovery: restart to every in-flight order resolved',
      '<= 2 s',
      r.recovery?.restartToResolvedS,
      's',
      (v) => v <= 2,
    ),
  ];
}
