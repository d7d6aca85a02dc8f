/**
 * Recovery: the gateway process is killed (-9) under the order workload and started again at once
 * on the same ports and data dir. Measured from the restart (the new process launched): until it is
 * ready, until every terminal is back online, and until every order that was in flight at the kill
 * is resolved (confirmed, rejected, failed) at its client. Arrivals continue throughout.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
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
  /** Until every client connection is back (each identity costs the new process a scrypt). */
  restartToClientsBackS: number | null;
  /** When the client connections came back, from the restart: first, median, last (s). */
  clientsReconnectedS: { first: number; p50: number; last: number; count: number } | null;
  /** The figure: launch of the new process until every order in flight at the kill is resolved. */
  restartToResolvedS: number | null;
  killToResolvedS: number | null;
  unresolved: number;
  /**
   * The same, as the gateway's journal has it (the resolving state record of each of those orders):
   * clients learn it only once they are connected again.
   */
  restartToResolvedInJournalS: number | null;
  unresolvedInJournal: number;
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
  const mark = await clients.call<{ marked: number; orders: { cid: string; orderId: string }[] }>('mark');
  const restartWall = Date.now();
  const tRestart = performance.now();
  await sys.startGateway();
  const restartToReadyS = (performance.now() - tRestart) / 1000;
  await sys.waitTerminalsOnline(60_000);
  const restartToTerminalsOnlineS = (performance.now() - tRestart) / 1000;
  let left = mark.marked;
  let lastResolvedAt = restartWall;
  let clientsBackS: number | null = null;
  let reconnectedAt: number[] = [];
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const w = await clients.call<{ left: number; lastResolvedAt: number; reconnectedAt: number[] }>(
      'watched',
    );
    left = w.left;
    reconnectedAt = w.reconnectedAt;
    lastResolvedAt = w.lastResolvedAt;
    if (clientsBackS === null) {
      const c = await clients.call<{ connected: number }>('snapshot', {});
      if (c.connected >= sys.clientCreds.length) clientsBackS = (performance.now() - tRestart) / 1000;
    }
    if (left === 0 && clientsBackS !== null) break;
    await sleep(20);
  }
  await sleep(1000);
  await clients.call('setRate', { rate: 0 });
  await drain(sys, 30_000);
  const s1 = await clients.call<Snap>('snapshot', {});
  const resolvedS = left === 0 ? Math.max(0, (lastResolvedAt - restartWall) / 1000) : null;
  const atGateway = resolvedInJournal(sys, mark.orders, restartWall);
  const result: RecoveryResult = {
    rate,
    inFlightAtKill: mark.marked,
    killToExitMs: round(killToExitMs, 0),
    restartToReadyS: round(restartToReadyS, 2),
    restartToTerminalsOnlineS: round(restartToTerminalsOnlineS, 2),
    restartToClientsBackS: clientsBackS === null ? null : round(clientsBackS, 2),
    clientsReconnectedS: spread(reconnectedAt, restartWall),
    restartToResolvedS: resolvedS === null ? null : round(resolvedS, 2),
    killToResolvedS: resolvedS === null ? null : round(resolvedS + (tRestart - tKill) / 1000, 2),
    unresolved: left,
    restartToResolvedInJournalS:
      atGateway.lastAt === null ? null : round(Math.max(0, atGateway.lastAt - restartWall) / 1000, 2),
    unresolvedInJournal: atGateway.unresolved,
    lost: s1.lost - s0.lost,
    resends: s1.resends - s0.resends,
    queries: s1.queries - s0.queries,
  };
  ctx.log(
    `recovery: ${result.inFlightAtKill} in flight at the kill; ready after ${result.restartToReadyS} s, terminals online after ${result.restartToTerminalsOnlineS} s, clients back after ${result.restartToClientsBackS ?? '-'} s (reconnected first/median/last ${result.clientsReconnectedS ? `${result.clientsReconnectedS.first}/${result.clientsReconnectedS.p50}/${result.clientsReconnectedS.last}` : '-'} s), all resolved in the journal after ${result.restartToResolvedInJournalS ?? '-'} s, at the clients after ${result.restartToResolvedS ?? `- (${left} left)`} s; lost ${result.lost}`,
  );
  return result;
}

function spread(times: number[], since: number): RecoveryResult['clientsReconnectedS'] {
  if (times.length === 0) return null;
  const s = times.map((t) => (t - since) / 1000).sort((a, b) => a - b);
  return {
    first: round(s[0]!, 2),
    p50: round(s[Math.floor(s.length / 2)]!, 2),
    last: round(s.at(-1)!, 2),
    count: s.length,
  };
}

/** When the journal recorded the resolution (confirmed, rejected, failed, cancelled) of each order. */
function resolvedInJournal(
  sys: BenchSystem,
  marked: { cid: string; orderId: string }[],
  since: number,
): { lastAt: number | null; unresolved: number } {
  const want = new Set(marked.map((o) => `${o.cid}\u0000${o.orderId}`));
  const first = new Map<string, number>();
  const db = new Database(join(sys.dataDir, 'journal.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare("SELECT at, body FROM records WHERE type = 'state' AND at >= ? ORDER BY seq")
      .iterate(since - 60_000) as Iterable<{ at: number; body: string }>;
    for (const row of rows) {
      const r = JSON.parse(row.body) as { cid: string; orderId: string; state: string };
      const key = `${r.cid}\u0000${r.orderId}`;
      if (!want.has(key) || first.has(key) || !RESOLVING.has(r.state)) continue;
      first.set(key, row.at);
    }
  } finally {
    db.close();
  }
  const times = [...first.values()];
  return { lastAt: times.length > 0 ? Math.max(...times) : null, unresolved: want.size - first.size };
}

const RESOLVING = new Set(['confirmed', 'rejected', 'failed', 'cancelled']);
