/**
 * A CPU profile of every process under the order workload at a fixed offered rate: the gateway,
 * the terminals and the clients each run with --cpu-prof (profiles under
 * <out>/profiles/<timestamp>/, open them in Chrome DevTools or speedscope), and the bench reports
 * where the time went within the measured window (not start-up).
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, sleep } from '../lib/context.ts';
import { type ProfileSummary, summarize } from '../lib/cpuprofile.ts';
import { describeStep, drain, ordersSpec, type StepResult, startOrderSystem, step } from './orders.ts';

export interface ProfileResult {
  rate: number;
  dir: string;
  orders: StepResult;
  processes: Record<string, ProfileSummary>;
}

/** The monotonic clock V8 stamps profiles with, in µs. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export async function runProfile(ctx: BenchContext, rate: number): Promise<ProfileResult> {
  const dir = join(ctx.outDir, 'profiles', ctx.stamp);
  mkdirSync(dir, { recursive: true });
  // One folder per process: each thread writes its own profile (tsx's module loader runs in a
  // worker thread), named CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; the main thread is 0.
  const flags = (name: string) => ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`];
  const sys = await startOrderSystem(
    ctx,
    ordersSpec(ctx, {
      name: 'profile',
      gatewayFlags: flags('gateway'),
      workerFlags: (n) => flags(n),
      // Under tsx: the profile then names our files (the prebuilt bundle is one file).
      prebuilt: false,
    }),
  );
  let orders: StepResult;
  let fromUs = 0;
  let toUs = 0;
  try {
    ctx.log(`profile: warm-up, then ${rate} orders/s with --cpu-prof`);
    await step(ctx, sys, Math.max(1, Math.round(rate / 2)), ctx.quick ? 1000 : 3000, 0);
    await drain(sys, 30_000);
    await sys.clients!.call('setRate', { rate });
    await sleep(1000);
    fromUs = monotonicUs();
    orders = await step(ctx, sys, rate, ctx.quick ? 3000 : 15_000, 0);
    toUs = monotonicUs();
    ctx.log(`profile: ${describeStep(orders)}`);
    await drain(sys, 30_000);
  } finally {
    // A graceful stop writes the profiles.
    await sys.stop();
  }
  const processes: Record<string, ProfileSummary> = {};
  for (const name of readdirSync(dir)) {
    const main = readdirSync(join(dir, name)).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (main) processes[name] = summarize(join(dir, name, main), { fromUs, toUs });
  }
  const g = processes.gateway;
  if (g) {
    ctx.log(`profile: gateway busy ${Math.round(g.busyShare * 100)}% of the window; top areas:`);
    for (const a of g.byOwner.slice(0, 8)) ctx.log(`  ${a.pct}%  ${a.name}`);
  }
  return { rate, dir, orders, processes };
}
