/**
 * Scale of one node: 1,000 terminals and 10,000 connected clients on one gateway. The gateway's RSS
 * and CPU when empty, with the terminals, with every client connected (idle), and under 100
 * orders/s; how long the connect storms take; the open-file limit that 10k sockets need.
 *
 * Connections come from several processes (terminal fleets, one load generator, idle-connection
 * workers). Client identities are few (scrypt), so most connections share one: 100 identities place
 * orders (one connection each), 100 more hold the idle connections (99 each); an idle connection
 * subscribes to its status and errors as a customer's app would, and never orders, so no status is
 * fanned out to the idle ones. The first connection of each identity costs the gateway a scrypt,
 * the others hit its cache of verified passwords; the storm is measured after that warm-up, and a
 * separate small storm of one fresh identity shows the cold case.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, sleep, startWorker, workerScript } from '../lib/context.ts';
import { type ProfileSummary, summarize } from '../lib/cpuprofile.ts';
import { creds, names, provisionMany } from '../lib/identities.ts';
import { cores, LoadWindow, openFileLimits, procSample, round } from '../lib/machine.ts';
import { BenchSystem } from '../lib/system.ts';
import type { Worker } from '../lib/worker.ts';
import { describeStep, type StepResult, step } from './orders.ts';

export interface Usage {
  rssMiB: number;
  cores: number;
  /** Open file descriptors of the gateway. */
  fds: number;
}

export interface Stage {
  gateway: Usage;
  loadGenerators: { rssMiB: number; cores: number };
  seconds: number;
  machine: { otherCores: number; loadavg1: number };
}

export interface StormResult {
  connections: number;
  identities: number;
  seconds: number;
  perS: number;
  failed: number;
  /** Still connecting when the bench stopped waiting (its deadline). */
  unfinished: number;
  errors: Record<string, number>;
  gatewayPeakRssMiB: number;
  gatewayCores: number;
}

export interface ScaleResult {
  workload: {
    terminals: number;
    skusPerTerminal: number;
    clients: number;
    activeClients: number;
    rate: number;
  };
  openFiles: { soft: number; hard: number; needed: number; enough: boolean };
  scaledDown: string | null;
  empty: Stage;
  /** Terminals connect in waves (each process: 50 at a time), each a first verification. */
  terminalsStorm: {
    terminals: number;
    waves: number;
    slowestWaveS: number;
    fleetStartS: number;
    allOnlineS: number;
    perS: number;
  };
  withTerminals: Stage;
  firstConnections: StormResult;
  storm: StormResult;
  /** Reconnection of what the storm lost, 250 at a time per worker, until every client is in. */
  topUp: { rounds: number; connected: number; stillOut: number; seconds: number };
  /** Clients connected at the end (ordering + idle). */
  connected: number;
  idle: Stage;
  underLoad: (Stage & { orders: StepResult }) | null;
  coldStorm: StormResult | null;
  /** With --profile: the gateway's CPU profile while under load. */
  profile: ProfileSummary | null;
}

export async function runScale(ctx: BenchContext): Promise<ScaleResult> {
  const q = ctx.quick;
  const wanted = {
    terminals: q ? 50 : 1000,
    clients: q ? 500 : 10_000,
    active: q ? 10 : 100,
    idleIds: q ? 10 : 100,
  };
  const limits = openFileLimits();
  // The gateway holds one socket per connection (+ listeners, journal, logs); the load generators
  // hold theirs in separate processes.
  const needed = wanted.clients + wanted.terminals + 256;
  let scaledDown: string | null = null;
  if (limits.soft < needed) {
    const fit = Math.max(100, limits.soft - wanted.terminals - 256);
    scaledDown = `ulimit -n is ${limits.soft}: ${needed} descriptors needed, clients cut to ${fit}`;
    wanted.clients = fit;
    ctx.log(`scale: ${scaledDown}`);
  }
  const idleWorkers = q ? 1 : 4;
  const idlePerIdentity = Math.floor((wanted.clients - wanted.active) / wanted.idleIds);
  const idleConnections = idlePerIdentity * wanted.idleIds;
  const rate = q ? 20 : 100;
  const idleMs = q ? 2000 : 8000;
  const sys = new BenchSystem(ctx, {
    name: 'scale',
    terminals: wanted.terminals,
    terminalProcesses: q ? 1 : 2,
    // 2 processes x 50: ~100 first verifications (scrypt) in flight at the gateway at a time.
    terminalWave: q ? 25 : 50,
    skusPerTerminal: q ? 5 : 10,
    initialStock: [500, 1000],
    clients: wanted.active,
    idleIdentities: wanted.idleIds,
    seed: ctx.seed,
    // With --profile: where the gateway's time goes at scale, under load.
    ...(ctx.profile
      ? { gatewayFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir(ctx)}`], prebuilt: false }
      : {}),
    gatewayEnv: {
      STOCKGATE_LOG_LEVEL: 'warn',
      STOCKGATE_MAX_CONNECTIONS: String(wanted.clients + wanted.terminals + 1000),
    },
  });
  ctx.log(
    `scale: ${wanted.terminals} terminals, ${wanted.active + idleConnections} clients (${wanted.active} ordering, ${idleConnections} idle over ${wanted.idleIds} identities); open files ${limits.soft}/${limits.hard}, needed ~${needed}`,
  );
  const idle: Worker[] = [];
  let result: ScaleResult | undefined;
  const profileWindow = { fromUs: 0, toUs: 0 };
  try {
    await sys.provision();
    await sys.startGateway();
    await sleep(1000);
    const empty = await stage(sys, [], idleMs / 2);
    ctx.log(`scale: empty gateway ${empty.gateway.rssMiB} MiB`);

    const t = await sys.startTerminals();
    const terminalsStorm = {
      terminals: wanted.terminals,
      waves: t.waves,
      slowestWaveS: round(t.slowestWaveMs / 1000, 2),
      fleetStartS: round(t.startMs / 1000, 2),
      allOnlineS: round(t.onlineMs / 1000, 2),
      perS: round(wanted.terminals / (t.onlineMs / 1000), 1),
    };
    ctx.log(`scale: ${wanted.terminals} terminals online after ${terminalsStorm.allOnlineS} s`);
    await sleep(1000);
    const withTerminals = await stage(sys, sys.terminalWorkers, idleMs);
    ctx.log(
      `scale: with terminals ${withTerminals.gateway.rssMiB} MiB, ${withTerminals.gateway.cores} cores idle`,
    );

    await sys.startClients(`scale${ctx.seed.toString(36)}`);
    for (let i = 0; i < idleWorkers; i++)
      idle.push(await startWorker(ctx, { name: `scale-idle-${i}`, script: workerScript('clients') }));
    // Warm-up: the first connection of each idle identity (one scrypt each at the gateway).
    const first = await storm(ctx, sys, idle, sys.idleCreds, 1, 0, 'first', 120_000);
    ctx.log(`scale: first connection of ${sys.idleCreds.length} identities in ${first.seconds} s`);
    // The storm: every other idle connection at once, from every idle worker.
    const main = await storm(
      ctx,
      sys,
      idle,
      sys.idleCreds,
      idlePerIdentity - 1,
      1,
      'storm',
      q ? 30_000 : 60_000,
    );
    ctx.log(
      `scale: storm of ${main.connections + main.failed + main.unfinished} connections: ${main.connections} in ${main.seconds} s (${main.perS}/s), ${main.failed} failed (${Object.keys(main.errors).join(', ')}), gateway peak ${main.gatewayPeakRssMiB} MiB`,
    );
    // As customers' apps would: those that failed connect again, a few at a time, until all are in.
    const retries: StormResult[] = [];
    let lost = main.failed + main.unfinished;
    const retryStart = performance.now();
    while (lost > 0 && retries.length < 10 && performance.now() - retryStart < (q ? 60_000 : 180_000)) {
      const r = await storm(ctx, sys, idle, [], 0, 0, 'retry', 60_000, q ? 50 : 250);
      retries.push(r);
      lost = r.failed + r.unfinished;
      ctx.log(
        `scale: retry ${retries.length}: ${r.connections} more connected in ${r.seconds} s, ${lost} still out`,
      );
    }
    const topUp = {
      rounds: retries.length,
      connected: retries.reduce((sum, r) => sum + r.connections, 0),
      stillOut: lost,
      seconds: round((performance.now() - retryStart) / 1000, 2),
    };
    const totalConnected = wanted.active + sys.idleCreds.length + main.connections + topUp.connected;
    await sleep(2000);
    const loadGens = [...sys.terminalWorkers, sys.clients!, ...idle];
    const idleStage = await stage(sys, loadGens, idleMs);
    ctx.log(`scale: all connected, idle: ${idleStage.gateway.rssMiB} MiB, ${idleStage.gateway.cores} cores`);

    const window = new LoadWindow([sys.gateway.pid, ...loadGens.map((w) => w.pid)]);
    const before = sample(sys, loadGens);
    profileWindow.fromUs = monotonicUs();
    const orders = await step(ctx, sys, rate, q ? 3000 : 12_000, 1000);
    profileWindow.toUs = monotonicUs();
    const after = sample(sys, loadGens);
    const machine = window.end();
    ctx.log(`scale: ${describeStep(orders)}`);
    const underLoad = {
      ...usage(sys, before, after),
      seconds: orders.seconds,
      machine: { otherCores: machine.otherCores, loadavg1: machine.loadavg1 },
      orders,
    };
    ctx.log(
      `scale: under ${rate} orders/s: ${underLoad.gateway.rssMiB} MiB, ${underLoad.gateway.cores} cores`,
    );

    // The cold case: many connections of one identity the gateway has never verified, at once.
    let coldStorm: StormResult | null = null;
    const coldName = names('cold', 1)[0]!;
    await provisionMany(sys.dataDir, [{ name: coldName, role: 'client' }]);
    coldStorm = await storm(ctx, sys, idle.slice(0, 1), creds([coldName]), q ? 20 : 200, 0, 'cold', 120_000);
    ctx.log(
      `scale: cold storm, ${coldStorm.connections} connections of one new identity: ${coldStorm.seconds} s`,
    );

    result = {
      workload: {
        terminals: wanted.terminals,
        skusPerTerminal: round(sys.slots / wanted.terminals, 1),
        clients: wanted.active + idleConnections,
        activeClients: wanted.active,
        rate,
      },
      openFiles: { ...limits, needed, enough: limits.soft >= needed },
      scaledDown,
      empty,
      terminalsStorm,
      withTerminals,
      firstConnections: first,
      storm: main,
      topUp,
      connected: totalConnected,
      idle: idleStage,
      underLoad,
      coldStorm,
      profile: null,
    };
  } finally {
    await Promise.all(idle.map((w) => w.stop()));
    await sys.stop();
    if (ctx.profile && result) result.profile = mainProfile(profileDir(ctx), profileWindow);
  }
  return result!;
}

function profileDir(ctx: BenchContext): string {
  return join(ctx.outDir, 'profiles', ctx.stamp, 'scale-gateway');
}

/** The main thread's profile (CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile) over the window. */
function mainProfile(dir: string, window: { fromUs: number; toUs: number }): ProfileSummary | null {
  try {
    const main = readdirSync(dir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    return main ? summarize(join(dir, main), window) : null;
  } catch {
    return null;
  }
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

type Samples = { g: ReturnType<typeof procSample>; w: ReturnType<typeof procSample>[] };

function sample(sys: BenchSystem, workers: Worker[]): Samples {
  return { g: procSample(sys.gateway.pid), w: workers.map((w) => procSample(w.pid)) };
}

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

function usage(sys: BenchSystem, a: Samples, b: Samples): Pick<Stage, 'gateway' | 'loadGenerators'> {
  let rss = 0;
  let busy = 0;
  b.w.forEach((s, i) => {
    const s0 = a.w[i];
    if (!s || !s0) return;
    rss += s.rssBytes;
    busy += cores(s0, s);
  });
  return {
    gateway: {
      rssMiB: round((b.g?.rssBytes ?? 0) / 2 ** 20, 0),
      cores: a.g && b.g ? round(cores(a.g, b.g), 3) : 0,
      fds: fds(sys.gateway.pid),
    },
    loadGenerators: { rssMiB: round(rss / 2 ** 20, 0), cores: round(busy, 2) },
  };
}

async function stage(sys: BenchSystem, workers: Worker[], ms: number): Promise<Stage> {
  const window = new LoadWindow([sys.gateway.pid, ...workers.map((w) => w.pid)]);
  const a = sample(sys, workers);
  await sleep(ms);
  const b = sample(sys, workers);
  const m = window.end();
  return {
    ...usage(sys, a, b),
    seconds: round(ms / 1000, 1),
    machine: { otherCores: m.otherCores, loadavg1: m.loadavg1 },
  };
}

async function storm(
  ctx: BenchContext,
  sys: BenchSystem,
  workers: Worker[],
  identities: ReturnType<typeof creds>,
  perIdentity: number,
  offset: number,
  tag: string,
  deadlineMs: number,
  /** Instead of a new storm: retry what the last one of each worker lost, `retryBatch` at a time. */
  retryBatch = 0,
): Promise<StormResult> {
  if (retryBatch === 0 && (perIdentity <= 0 || identities.length === 0)) {
    return {
      connections: 0,
      identities: 0,
      seconds: 0,
      perS: 0,
      failed: 0,
      unfinished: 0,
      errors: {},
      gatewayPeakRssMiB: 0,
      gatewayCores: 0,
    };
  }
  // Identities are dealt to the workers; each opens its share at once.
  const shares = workers.map((_, i) => identities.filter((_, k) => k % workers.length === i));
  const active = retryBatch > 0 ? workers : workers.filter((_, i) => shares[i]!.length > 0);
  const g0 = procSample(sys.gateway.pid);
  const t0 = performance.now();
  await Promise.all(
    active.map((w) =>
      retryBatch > 0
        ? w.call('idleRetry', { batch: retryBatch })
        : w.call('idleStart', {
            url: sys.url,
            identities: shares[workers.indexOf(w)],
            perIdentity,
            runId: `${tag}${ctx.seed.toString(36)}`,
            offset,
          }),
    ),
  );
  type Status = {
    total: number;
    connected: number;
    failed: number;
    pending: number;
    errors: Record<string, number>;
    ms: number;
  };
  let results: Status[] = [];
  let lastLog = performance.now();
  for (;;) {
    results = await Promise.all(active.map((w) => w.call<Status>('idleStatus')));
    const pending = results.reduce((s, r) => s + r.pending, 0);
    if (pending <= 0) break;
    if (performance.now() - t0 > deadlineMs) {
      // Stuck ones (SYNs dropped by a full accept queue retry for ~2 minutes) count as failed.
      await Promise.all(active.map((w) => w.call('idleAbandon')));
      results = await Promise.all(active.map((w) => w.call<Status>('idleStatus')));
      break;
    }
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      const connected = results.reduce((s, r) => s + r.connected, 0);
      ctx.log(
        `scale: ${tag}: ${connected} connected, ${pending} pending after ${Math.round((performance.now() - t0) / 1000)} s`,
      );
    }
    await sleep(100);
  }
  const pending = results.reduce((s, r) => s + r.pending, 0);
  const seconds =
    pending > 0 ? (performance.now() - t0) / 1000 : Math.max(1, ...results.map((r) => r.ms)) / 1000;
  const g1 = procSample(sys.gateway.pid);
  const connections = results.reduce((s, r) => s + r.connected, 0);
  const errors: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.errors as Record<string, number>)) errors[k] = (errors[k] ?? 0) + v;
  return {
    connections,
    identities: identities.length,
    seconds: round(seconds, 2),
    perS: round(connections / seconds, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    unfinished: pending,
    errors,
    gatewayPeakRssMiB: round((g1?.hwmBytes ?? 0) / 2 ** 20, 0),
    gatewayCores: g0 && g1 ? round(cores(g0, g1), 2) : 0,
  };
}
