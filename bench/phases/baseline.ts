/**
 * The physical limit: raw QoS1 request/response round trips/s through the same embedded aedes the
 * gateway uses (a plain Aedes, TCP with noDelay, no auth), and through Debian's mosquitto when it is
 * installed. Three processes, as in the order path: the broker, the responders (the terminals'
 * place) and the requesters (the clients' place).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';
import { type BenchContext, sleep, startWorker, workerScript } from '../lib/context.ts';
import { cores, LoadWindow, procSample, round } from '../lib/machine.ts';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface RttResult {
  broker: 'aedes' | 'mosquitto';
  connections: number;
  window: number;
  seconds: number;
  roundTripsPerS: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** CPU of the broker process during the measurement, in cores. */
  brokerCores: number;
  /** CPU time per round trip, µs: of the broker, and of both client processes together. */
  cpuUsPerRoundTrip: { broker: number; clients: number };
  machine: { otherCores: number; loadavg1: number };
}

export interface BaselineResult {
  aedes: RttResult;
  mosquitto: RttResult | { skipped: string };
}

const CONNECTIONS = 4;
const WINDOW = 32;

export async function runBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const ms = ctx.quick ? 2000 : 6000;
  const warmupMs = ctx.quick ? 500 : 2000;
  ctx.log(`baseline: aedes (plain, noDelay), ${CONNECTIONS} pairs x ${WINDOW} outstanding, ${ms / 1000} s`);
  const broker = await startWorker(ctx, { name: 'baseline-aedes', script: workerScript('aedes') });
  let aedes: RttResult;
  try {
    aedes = await measure(ctx, 'aedes', `mqtt://127.0.0.1:${broker.ready.port}`, broker.pid, ms, warmupMs);
  } finally {
    await broker.stop();
  }
  ctx.log(`baseline: aedes ${Math.round(aedes.roundTripsPerS)} round trips/s`);
  let mosquitto: BaselineResult['mosquitto'];
  if (!existsSync(MOSQUITTO)) {
    mosquitto = { skipped: `${MOSQUITTO} is not installed (apt-get install -y mosquitto)` };
    ctx.log(`baseline: mosquitto skipped: ${mosquitto.skipped}`);
  } else {
    const { proc, port } = await startMosquitto(ctx);
    try {
      mosquitto = await measure(ctx, 'mosquitto', `mqtt://127.0.0.1:${port}`, proc.pid ?? 0, ms, warmupMs);
      ctx.log(`baseline: mosquitto ${Math.round(mosquitto.roundTripsPerS)} round trips/s`);
    } catch (err) {
      mosquitto = { skipped: `mosquitto failed: ${(err as Error).message}` };
      ctx.log(`baseline: ${mosquitto.skipped}`);
    } finally {
      proc.kill('SIGTERM');
    }
  }
  return { aedes, mosquitto };
}

async function measure(
  ctx: BenchContext,
  broker: RttResult['broker'],
  url: string,
  brokerPid: number,
  ms: number,
  warmupMs: number,
): Promise<RttResult> {
  const run = `${broker}${Date.now().toString(36)}`;
  const responder = await startWorker(ctx, {
    name: `baseline-${broker}-responder`,
    script: workerScript('rtt'),
  });
  const requester = await startWorker(ctx, {
    name: `baseline-${broker}-requester`,
    script: workerScript('rtt'),
  });
  try {
    await responder.call('responder', { url, connections: CONNECTIONS, run });
    await requester.call('requester', { url, connections: CONNECTIONS, run });
    const window = new LoadWindow([brokerPid, responder.pid, requester.pid]);
    const pids = [brokerPid, responder.pid, requester.pid];
    let before = pids.map((p) => procSample(p));
    // CPU over the measured part only (after the warm-up).
    const warm = sleep(warmupMs).then(() => {
      before = pids.map((p) => procSample(p));
    });
    const r = await requester.call<{
      perS: number;
      seconds: number;
      latencyMs: { p50: number; p99: number; max: number };
    }>('measure', { window: WINDOW, ms, warmupMs, run });
    await warm;
    const after = pids.map((p) => procSample(p));
    const load = window.end();
    const used = (i: number) => {
      const a = before[i];
      const b = after[i];
      return a && b ? cores(a, b) : 0;
    };
    const perRt = (c: number) => (r.perS > 0 ? round((c * 1e6) / r.perS, 1) : 0);
    return {
      broker,
      connections: CONNECTIONS,
      window: WINDOW,
      seconds: round(r.seconds, 1),
      roundTripsPerS: Math.round(r.perS),
      latencyMs: {
        p50: round(r.latencyMs.p50, 2),
        p99: round(r.latencyMs.p99, 2),
        max: round(r.latencyMs.max, 1),
      },
      cpuUsPerRoundTrip: { broker: perRt(used(0)), clients: perRt(used(1) + used(2)) },
      brokerCores: round(used(0), 2),
      machine: { otherCores: load.otherCores, loadavg1: load.loadavg1 },
    };
  } finally {
    await Promise.all([requester.stop(), responder.stop()]);
  }
}

/** Debian's mosquitto with a generated config: 127.0.0.1 on a free port, Nagle off, no limits in the way. */
async function startMosquitto(ctx: BenchContext): Promise<{ proc: ChildProcess; port: number }> {
  const dir = join(ctx.workDir, 'mosquitto');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'set_tcp_nodelay true',
      // QoS1 messages in flight per client: unlimited, as with aedes.
      'max_inflight_messages 0',
      'max_queued_messages 100000',
      'log_dest none',
      '',
    ].join('\n'),
  );
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  ctx.procs.add(proc);
  proc.once('exit', () => ctx.procs.delete(proc));
  ctx.log(`baseline: mosquitto on 127.0.0.1:${port} (${conf})`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}) at start`);
    if (await canConnect(port)) return { proc, port };
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('mosquitto did not listen within 10 s');
    }
    await sleep(50);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
