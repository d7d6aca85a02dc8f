/**
 * Recovery: the gateway process is killed (-9) under the order workload and started again at once
 * on the same ports and data dir. Measured from the restart (the new process launched): until it is
 * ready, until every terminal is back online, and until every order that was in flight at the kill
 * is resolved (confirmed, rejected, failed) at its client. Arrivals continue throughout.
 */
import { type BenchContext, sleep } from '../lib/context.ts';
import { round } from '../lib/machine.ts';
import type { BenchSystem } from '../lib/system.ts';
import { drain } from './orders.ts';

export interface RecoveryResult {
  rate: number;
  inFlightAtKill: number;
  /** kill -9 until the process is gone. */
  killToExitMs: number;
  /** Launch of the new gateway process until it announced it is ready (journal recovered, listening). */
  restartToReadyS: number;
  restartToTerminalsOnlineS: number;
  /** The figure: launch of the new process until every order in flight at the kill is resolved. */
  restartToResolvedS: number | null;
  killToResolvedS: number | null;
  unresolved: number;
  /** Orders the gateway said it did not know after it had accepted them (must be 0). */
  lost: number;
  resends: number;
  queries: number;
}

interface Snap {
  lost: number;
  resends: number;
  queries: number;
  inFlight: number;
}

export async function runRecovery(
  ctx: BenchContext,
  sys: BenchSystem,
  rate: number,
): Promise<RecoveryResult> {
  const clients = sys.clients!;
  ctx.log(`recovery: ${rate} orders/s, then kill -9 the gateway and restart it`);
  await clients.call('setRate', { rate });
  await sleep(ctx.quick ? 1500 : 4000);
  const s0 = await clients.call<Snap>('snapshot', {});
  const tKill = performance.now();
  const old = sys.gateway;
  old.kill();
  await old.exited;
  const killToExitMs = performance.now() - tKill;
  const mark = await clients.call<{ marked: number }>('mark');
  const restartWall = Date.now();
  const tRestart = performance.now();
  await sys.startGateway();
  const restartToReadyS = (performance.now() - tRestart) / 1000;
  await sys.waitTerminalsOnline(60_000);
  const restartToTerminalsOnlineS = (performance.now() - tRestart) / 1000;
  let left = mark.marked;
  let lastResolvedAt = restartWall;
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const w = await clients.call<{ left: number; lastResolvedAt: number }>('watched');
    left = w.left;
    lastResolvedAt = w.lastResolvedAt;
    if (left === 0) break;
    await sleep(20);
  }
  await sleep(1000);
  await clients.call('setRate', { rate: 0 });
  await drain(sys, 30_000);
  const s1 = await clients.call<Snap>('snapshot', {});
  const resolvedS = left === 0 ? Math.max(0, (lastResolvedAt - restartWall) / 1000) : null;
  const result: RecoveryResult = {
    rate,
    inFlightAtKill: mark.marked,
    killToExitMs: round(killToExitMs, 0),
    restartToReadyS: round(restartToReadyS, 2),
    restartToTerminalsOnlineS: round(restartToTerminalsOnlineS, 2),
    restartToResolvedS: resolvedS === null ? null : round(resolvedS, 2),
    killToResolvedS: resolvedS === null ? null : round(resolvedS + (tRestart - tKill) / 1000, 2),
    unresolved: left,
    lost: s1.lost - s0.lost,
    resends: s1.resends - s0.resends,
    queries: s1.queries - s0.queries,
  };
  ctx.log(
    `recovery: ${result.inFlightAtKill} in flight at the kill; ready after ${result.restartToReadyS} s, terminals online after ${result.restartToTerminalsOnlineS} s, all resolved after ${result.restartToResolvedS ?? `- (${left} left)`} s; lost ${result.lost}`,
  );
  return result;
}
