/** The printed table: one line per figure, grouped by phase, with the machine's load beside it. */
import type { BenchResult } from '../run.ts';

type Row = [string, string, string];

const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined
    ? '-'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function rows(r: BenchResult): Row[] {
  const out: Row[] = [];
  const m = r.machine;
  out.push([
    'machine',
    `${m.nproc} cores, ${m.cpuModel}, ${m.memTotalGiB} GiB, node ${m.node}`,
    `load avg ${m.loadavg[0]} -> ${m.loadavgEnd[0] ?? '-'}`,
  ]);
  const b = r.baseline;
  if (b) {
    out.push([
      'raw QoS1 round trips/s, aedes',
      n(b.aedes.roundTripsPerS),
      `p50 ${n(b.aedes.latencyMs.p50, 2)} ms, p99 ${n(b.aedes.latencyMs.p99, 2)} ms; broker ${b.aedes.brokerCores} cores, ${b.aedes.cpuUsPerRoundTrip.broker} µs CPU per round trip; others ${b.aedes.machine.otherCores} cores`,
    ]);
    const q = b.mosquitto;
    out.push(
      'roundTripsPerS' in q
        ? [
            'raw QoS1 round trips/s, mosquitto',
            n(q.roundTripsPerS),
            `p50 ${n(q.latencyMs.p50, 2)} ms, p99 ${n(q.latencyMs.p99, 2)} ms; broker ${q.brokerCores} cores, ${q.cpuUsPerRoundTrip.broker} µs CPU per round trip; others ${q.machine.otherCores} cores`,
          ]
        : ['raw QoS1 round trips/s, mosquitto', 'skipped', q.skipped],
    );
  }
  const o = r.orders;
  if (o) {
    const w = o.workload;
    out.push([
      'orders workload',
      `${w.terminals} terminals x ${w.skusPerTerminal} SKUs, ${w.clients} clients`,
      `${w.skus} SKUs, ${w.lines} lines, qty ${w.qty}, ${w.arrivals}`,
    ]);
    const mx = o.atMax;
    out.push([
      'max sustainable orders/s',
      n(o.maxSustainedPerS),
      mx
        ? `gateway ${mx.cores.gateway} cores, terminals ${mx.cores.terminals}, clients ${mx.cores.clients}, others ${mx.cores.others}`
        : 'no step sustained',
    ]);
    if (mx)
      out.push([
        '  accepted->confirmed at max',
        `p50 ${n(mx.acceptedToConfirmedMs.p50, 1)} / p99 ${n(mx.acceptedToConfirmedMs.p99, 1)} / max ${n(mx.acceptedToConfirmedMs.max, 1)} ms`,
        `place->accepted p50 ${n(mx.placeToAcceptedMs.p50, 1)} ms, p99 ${n(mx.placeToAcceptedMs.p99, 1)} ms`,
      ]);
    const h = o.atHalf;
    if (h)
      out.push([
        `  accepted->confirmed at ${h.offered}/s`,
        `p50 ${n(h.acceptedToConfirmedMs.p50, 1)} / p99 ${n(h.acceptedToConfirmedMs.p99, 1)} / max ${n(h.acceptedToConfirmedMs.max, 1)} ms`,
        `gateway ${h.cores.gateway} cores, others ${h.cores.others}`,
      ]);
    if (mx)
      out.push([
        '  CPU per order at max',
        `gateway ${n(mx.cpuMsPerOrder.gateway, 2)} ms, terminals ${n(mx.cpuMsPerOrder.terminals, 2)} ms`,
        mx.terminalMessagesPerOrder
          ? `terminal replies ${mx.terminalMessagesPerOrder.replies}, inventory publishes ${mx.terminalMessagesPerOrder.inventories}, picks ${mx.terminalMessagesPerOrder.picks} per order`
          : '',
      ]);
    out.push([
      'orders/s / raw round trips/s',
      `${n(o.ratio.toAedes, 3)} (aedes)`,
      `${o.ratio.toMosquitto === null ? '' : `${n(o.ratio.toMosquitto, 3)} (mosquitto); `}in CPU: an order costs the gateway ${n(o.ratio.cpuRoundTripsPerOrder, 0)} round trips of aedes`,
    ]);
    out.push([
      '  steps (offered/s)',
      o.steps.map((s) => `${s.offered}${s.sustained ? '' : '✗'}`).join(' '),
      '✗ = not sustained',
    ]);
  }
  const s = r.scale;
  if (s) {
    const w = s.workload;
    out.push([
      'scale workload',
      `${n(w.terminals)} terminals, ${n(w.clients)} clients`,
      `${w.activeClients} ordering at ${w.rate}/s; open files ${s.openFiles.soft} (needed ~${s.openFiles.needed})${s.scaledDown ? `; ${s.scaledDown}` : ''}`,
    ]);
    out.push(['  gateway empty', `${s.empty.gateway.rssMiB} MiB`, `${s.empty.gateway.cores} cores`]);
    out.push([
      '  terminals connect',
      `${n(s.terminalsStorm.allOnlineS, 1)} s`,
      `${n(s.terminalsStorm.terminals)} terminals in ${s.terminalsStorm.waves} waves (${n(s.terminalsStorm.perS, 1)}/s), a first verification (scrypt) each`,
    ]);
    out.push([
      '  with terminals, idle',
      `${s.withTerminals.gateway.rssMiB} MiB`,
      `${s.withTerminals.gateway.cores} cores, ${s.withTerminals.gateway.fds} fds`,
    ]);
    out.push([
      '  first connection per identity',
      `${n(s.firstConnections.seconds, 1)} s`,
      `${s.firstConnections.connections} identities (scrypt each)`,
    ]);
    out.push([
      '  client connect storm',
      `${n(s.storm.seconds, 1)} s`,
      `${n(s.storm.connections + s.storm.failed + s.storm.unfinished)} connections at once: ${n(s.storm.connections)} in (${n(s.storm.perS)}/s), ${n(s.storm.failed)} failed${Object.keys(s.storm.errors).length ? ` (${Object.keys(s.storm.errors).join(', ')})` : ''}; gateway ${s.storm.gatewayCores} cores`,
    ]);
    if (s.topUp.rounds > 0)
      out.push([
        '  retries of the failed ones',
        `${n(s.topUp.seconds, 1)} s`,
        `${s.topUp.rounds} rounds, ${n(s.topUp.connected)} connected, ${n(s.topUp.stillOut)} still out; ${n(s.connected)} clients connected in all`,
      ]);
    out.push([
      `  ${n(s.connected)} clients connected, idle`,
      `${s.idle.gateway.rssMiB} MiB`,
      `${s.idle.gateway.cores} cores, ${s.idle.gateway.fds} fds; others ${s.idle.machine.otherCores} cores`,
    ]);
    if (s.underLoad) {
      const u = s.underLoad;
      out.push([
        `  under ${w.rate} orders/s`,
        `${u.gateway.rssMiB} MiB`,
        `${u.gateway.cores} cores; accepted->confirmed p50 ${n(u.orders.acceptedToConfirmedMs.p50, 1)} / p99 ${n(u.orders.acceptedToConfirmedMs.p99, 1)} ms; ${u.orders.sustained ? 'sustained' : 'NOT sustained'}`,
      ]);
    }
    if (s.profile)
      for (const a of s.profile.byOwner.slice(0, 6))
        out.push([`  profile under load: ${a.name}`, `${a.pct}%`, "of the gateway's busy time"]);
    if (s.coldStorm)
      out.push([
        '  cold storm, one new identity',
        `${n(s.coldStorm.seconds, 1)} s`,
        `${s.coldStorm.connections} connections of one never-verified identity at once`,
      ]);
  }
  const rc = r.recovery;
  if (rc) {
    out.push([
      'recovery: restart -> all resolved',
      rc.restartToResolvedS === null ? `- (${rc.unresolved} unresolved)` : `${n(rc.restartToResolvedS, 2)} s`,
      `at the clients; ${rc.inFlightAtKill} in flight at kill -9 (${rc.rate}/s); lost ${rc.lost}`,
    ]);
    out.push([
      '  restart -> ready, terminals, clients',
      `${n(rc.restartToReadyS, 2)} s, ${n(rc.restartToTerminalsOnlineS, 2)} s, ${n(rc.restartToClientsBackS, 2)} s`,
      'the new process is ready; every terminal online; every client connected again (a scrypt per identity)',
    ]);
    out.push([
      '  restart -> all resolved in the journal',
      rc.restartToResolvedInJournalS === null ? '-' : `${n(rc.restartToResolvedInJournalS, 2)} s`,
      `the gateway's own record of each decision${rc.unresolvedInJournal ? ` (${rc.unresolvedInJournal} not found)` : ''}`,
    ]);
  }
  const p = r.profile;
  if (p) {
    const g = p.processes.gateway;
    if (g) {
      out.push(['profile (gateway)', `${p.rate}/s, busy ${Math.round(g.busyShare * 100)}%`, p.dir]);
      for (const a of g.byOwner.slice(0, 6))
        out.push([
          `  ${a.name}`,
          `${a.pct}%`,
          'self time, charged to the nearest caller of ours or a package',
        ]);
      for (const t of g.themes.slice(0, 6)) out.push([`  ${t.name}`, `${t.pct}%`, 'inclusive']);
    }
  }
  for (const t of r.targets)
    out.push([
      `target: ${t.name}`,
      t.target,
      t.value === null
        ? 'not measured'
        : `${t.value}${t.unit ? ` ${t.unit}` : ''}: ${t.met ? 'met' : 'NOT met'}`,
    ]);
  for (const e of r.errors) out.push([`error in ${e.phase}`, '', e.message]);
  return out;
}

export function renderTable(r: BenchResult): string {
  const all = rows(r);
  const w0 = Math.max(...all.map((x) => x[0].length));
  const w1 = Math.max(...all.map((x) => x[1].length));
  const line = (x: Row) => `${x[0].padEnd(w0)}  ${x[1].padEnd(w1)}  ${x[2]}`.trimEnd();
  return `\n${all.map(line).join('\n')}\n\n`;
}
