/**
 * Emulated stock terminals, whole: board (StandardFirmata on avr8js) + panel (johnny-five: LCD,
 * LEDs, buttons, knob) + terminal host (ledger, MQTT), with orders flowing and picks made by
 * pressing the emulated pick button. Figures: boot-to-online, emulated MHz, and how many such
 * terminals one core keeps in real time.
 *
 *   npx tsx bench/emulated-terminals.ts [--max 6] [--seconds 5] [--rate 4] [--json]
 *
 * The terminals run in this process (one core); the gateway and the client fleet run as child
 * processes (`stockgate gateway`, `stockgate sim clients`), so they do not count against it.
 * "Real time" = every board's emulated clock advanced by at least 97 % of the wall time over the
 * window, while `--rate` orders/s (total) are placed against the fleet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoardTerminal } from '../firmware/panel/boardTerminal.ts';
import { demoCredentialsPath, ensureDemoCredentials } from '../gateway/auth/demo.ts';
import { SupervisedChild } from '../lib/supervisor.ts';
import { skuName } from '../sim/layout.ts';
import { TerminalFleet } from '../sim/terminalFleet.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MAX = opt('--max', 6);
const SECONDS = opt('--seconds', 5);
const RATE = opt('--rate', 4);
const JSON_OUT = args.includes('--json');
const REALTIME = 0.97;
const SKUS = 12;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out = (s: string) => {
  if (!JSON_OUT) process.stdout.write(`${s}\n`);
};

interface FleetResult {
  terminals: number;
  minRatio: number;
  meanRatio: number;
  /** Sum of the emulators' share of the wall time. */
  emulatorLoad: number;
  /** This process's CPU time over wall time (1 = one core busy). */
  processLoad: number;
  droppedMs: number;
  picksPressed: number;
  /**
   * Emulated MHz (all boards) per CPU-second of this process, hosts included: robust to other
   * load on the machine. cpuMhz / 16 = terminals one core carries in real time.
   */
  cpuMhz: number;
}

async function main(): Promise<void> {
  process.env.STOCKGATE_LOG_LEVEL ??= 'warn';
  const dir = mkdtempSync(join(tmpdir(), 'stockgate-bench-terminals-'));
  const ids = Array.from({ length: MAX }, (_, i) => `e${String(i + 1).padStart(2, '0')}`);
  const creds = await ensureDemoCredentials(dir, { clients: 4, terminals: ids });
  const env = { STOCKGATE_DATA_DIR: dir, STOCKGATE_LOG_LEVEL: 'warn' };
  const gateway = new SupervisedChild({
    name: 'gateway',
    args: ['gateway', '--mqtt-port', '0', '--ws-port', '0', '--http-port', '0'],
    env,
    logFile: join(dir, 'logs', 'gateway.log'),
    prebuilt: true,
  });
  const ready = await gateway.start();
  const url = `mqtt://127.0.0.1:${(ready.ports as { mqtt: number }).mqtt}`;
  const children: SupervisedChild[] = [gateway];
  try {
    out(
      `node ${process.version}; terminals in this process (one core), gateway and clients in child processes`,
    );

    // Boot-to-online of one terminal: real-time boot, then flat-out boot (the default).
    const boots: Record<string, { boardMs: number; onlineMs: number; mhz: number }> = {};
    for (const [label, bootSpeed] of [
      ['real-time boot', 1],
      ['flat-out boot ', Number.POSITIVE_INFINITY],
    ] as const) {
      const unit = new BoardTerminal({
        terminal: {
          id: ids[0]!,
          url,
          password: creds.terminals[0]!.password,
          dataDir: join(dir, 'boot', label.trim()),
          initialStock: { [skuName(0)]: 10 },
        },
        board: { kind: 'emulated', bootSpeed },
      });
      const t = await unit.startOnline(60_000);
      await sleep(1500); // let the emulator settle into real time
      boots[label] = { ...t, mhz: unit.emulated!.mhz() };
      out(
        `boot-to-online, ${label}: board ready ${t.boardMs.toFixed(0)} ms, online ${t.onlineMs.toFixed(0)} ms wall; ` +
          `then ${unit.emulated!.mhz().toFixed(1)} MHz (16 = real time), capacity ${unit.emulated!.stats().busyMhz.toFixed(1)} MHz`,
      );
      await unit.stop();
    }

    const clients = new SupervisedChild({
      name: 'clients',
      args: [
        'sim',
        'clients',
        '--url',
        url,
        '--credentials',
        demoCredentialsPath(dir),
        '--count',
        '4',
        '--rate',
        String(RATE),
        '--skus',
        Array.from({ length: SKUS }, (_, i) => skuName(i)).join(','),
        '--seed',
        '7',
      ],
      env,
      logFile: join(dir, 'logs', 'clients.log'),
    });
    await clients.start();
    children.unshift(clients);

    const results: FleetResult[] = [];
    let best = 0;
    for (let n = 1; n <= MAX; n++) {
      const fleet = new TerminalFleet({
        url,
        terminals: creds.terminals.slice(0, n),
        dataDir: join(dir, `fleet-${n}`),
        skus: SKUS,
        maxReplicas: 2,
        initialStock: [200, 400],
        pickDelayMs: [300, 1500],
        restockBelow: 20,
        restockAmount: 100,
        seed: 1,
        sync: false,
        emulated: n,
      });
      await fleet.start();
      await sleep(1500); // boots done; the fleet settles into real time
      const units = [...fleet.units.values()];
      const start = units.map((u) => ({
        cycles: u.emulated!.stats().cycles,
        dropped: u.emulated!.stats().droppedMs,
      }));
      const busy0 = units.map((u) => u.emulated!.stats().load * u.emulated!.stats().wallMs);
      const cpu0 = process.cpuUsage();
      const pressed0 = fleet.stats().pressed;
      const t0 = performance.now();
      await sleep(SECONDS * 1000);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const ratios = units.map((u, i) => (u.emulated!.stats().cycles - start[i]!.cycles) / 16_000 / wall);
      const cycles = units.reduce((sum, u, i) => sum + u.emulated!.stats().cycles - start[i]!.cycles, 0);
      const emulatorLoad =
        units.reduce(
          (sum, u, i) => sum + (u.emulated!.stats().load * u.emulated!.stats().wallMs - busy0[i]!),
          0,
        ) / wall;
      const r: FleetResult = {
        terminals: n,
        minRatio: Math.min(...ratios),
        meanRatio: ratios.reduce((a, b) => a + b, 0) / n,
        emulatorLoad,
        processLoad: (cpu.user + cpu.system) / 1000 / wall,
        droppedMs: units.reduce((sum, u, i) => sum + u.emulated!.stats().droppedMs - start[i]!.dropped, 0),
        picksPressed: fleet.stats().pressed - pressed0,
        cpuMhz: cycles / (cpu.user + cpu.system),
      };
      results.push(r);
      out(
        `${String(n).padStart(2)} emulated terminals: min ${(r.minRatio * 100).toFixed(1)} % / mean ${(r.meanRatio * 100).toFixed(1)} % of real time, ` +
          `this process ${(r.processLoad * 100).toFixed(0)} % of a core (emulator loops ${(r.emulatorLoad * 100).toFixed(0)} % of the wall time), ` +
          `${r.picksPressed} picks pressed in ${SECONDS} s; ${r.cpuMhz.toFixed(1)} emulated MHz per CPU-second ` +
          `(= ${(r.cpuMhz / 16).toFixed(1)} terminals per core)`,
      );
      await fleet.stop();
      if (r.minRatio >= REALTIME) best = n;
      else break;
    }
    out(`=> one core keeps ${best} emulated terminal(s) (board + panel + terminal) in real time`);
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ boots, fleets: results, best }, null, 2)}\n`);
  } finally {
    for (const c of children) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
