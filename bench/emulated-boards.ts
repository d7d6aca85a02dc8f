/**
 * Emulated Uno figures: boot-to-ready, emulated MHz, and how many boards one core keeps in real time.
 *
 *   npx tsx bench/emulated-boards.ts [--max 12] [--seconds 3] [--json]
 *
 * Everything runs in this one Node process, i.e. on one core. "Real time" means every board's
 * emulated clock advanced by at least 97 % of the wall time over the measuring window.
 */
import five from 'johnny-five';
import { EmulatedBoard } from '../firmware/boards/emulated/index.ts';
import { connectBoard, type J5Board } from '../firmware/boards/firmata.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MAX = opt('--max', 12);
const SECONDS = opt('--seconds', 3);
const JSON_OUT = args.includes('--json');
const REALTIME = 0.97;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out = (s: string) => {
  if (!JSON_OUT) process.stdout.write(`${s}\n`);
};

async function bootToReady(speed: number): Promise<{ wallMs: number; emulatedMs: number }> {
  const emu = new EmulatedBoard({ name: `boot-${speed}`, speed });
  const t0 = performance.now();
  emu.start();
  await connectBoard(emu.port, { handshakeTimeoutMs: 30_000 });
  const wallMs = performance.now() - t0;
  const emulatedMs = emu.stats().emulatedMs;
  await emu.stop();
  return { wallMs, emulatedMs };
}

async function flatOutMhz(seconds: number): Promise<number> {
  const emu = new EmulatedBoard({ name: 'flat-out', speed: Number.POSITIVE_INFINITY, lcd: false });
  emu.start();
  await sleep(300); // warm up the JIT
  const c0 = emu.stats().cycles;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const mhz = (emu.stats().cycles - c0) / ((performance.now() - t0) * 1000);
  await emu.stop();
  return mhz;
}

interface FleetResult {
  boards: number;
  withHost: boolean;
  minRatio: number;
  meanRatio: number;
  load: number;
}

/** N boards at speed 1; optionally each with johnny-five attached, sampling A0 at 50 Hz and blinking an LED. */
async function fleet(n: number, withHost: boolean, seconds: number): Promise<FleetResult> {
  const boards = Array.from({ length: n }, (_, i) => new EmulatedBoard({ name: `t${i}`, maxLagMs: 100 }));
  const hosts: J5Board[] = [];
  const sensors: five.Sensor[] = [];
  const leds: five.Led[] = [];
  for (const b of boards) b.start();
  if (withHost) {
    hosts.push(
      ...(await Promise.all(boards.map((b) => connectBoard(b.port, { handshakeTimeoutMs: 60_000 })))),
    );
    for (const [i, board] of hosts.entries()) {
      boards[i]!.setAnalog('count', 100 + i);
      sensors.push(new five.Sensor({ pin: 'A0', freq: 20, board }));
      const led = new five.Led({ pin: 9, board });
      led.blink(100);
      leds.push(led);
    }
  } else {
    await sleep(500);
  }
  const start = boards.map((b) => ({ cycles: b.stats().cycles, dropped: b.stats().droppedMs }));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = performance.now() - t0;
  const ratios = boards.map((b, i) => {
    const s = b.stats();
    return (s.cycles - start[i]!.cycles) / 16_000 / wall;
  });
  const load = boards.reduce((sum, b) => sum + b.stats().load, 0);
  for (const led of leds) led.stop().off();
  for (const s of sensors) (s as unknown as { freq: number | null }).freq = null;
  await Promise.all(boards.map((b) => b.stop()));
  return {
    boards: n,
    withHost,
    minRatio: Math.min(...ratios),
    meanRatio: ratios.reduce((a, b) => a + b, 0) / n,
    load,
  };
}

async function main(): Promise<void> {
  out(`node ${process.version}, one process (one core), measuring ${SECONDS} s windows`);
  const boot1 = await bootToReady(1);
  out(
    `boot-to-ready, real time:   ${boot1.wallMs.toFixed(0)} ms wall (${boot1.emulatedMs.toFixed(0)} ms emulated)`,
  );
  const bootMax = await bootToReady(Number.POSITIVE_INFINITY);
  out(
    `boot-to-ready, flat out:    ${bootMax.wallMs.toFixed(0)} ms wall (${bootMax.emulatedMs.toFixed(0)} ms emulated)`,
  );
  const mhz = await flatOutMhz(SECONDS);
  out(`emulated speed, flat out:   ${mhz.toFixed(1)} MHz = ${(mhz / 16).toFixed(2)}x real time`);

  const results: FleetResult[] = [];
  for (const withHost of [false, true]) {
    let best = 0;
    for (let n = 1; n <= MAX; n++) {
      const r = await fleet(n, withHost, SECONDS);
      results.push(r);
      out(
        `${withHost ? 'with johnny-five' : 'firmware only  '} ${String(n).padStart(2)} boards: ` +
          `min ${(r.minRatio * 100).toFixed(1)} % / mean ${(r.meanRatio * 100).toFixed(1)} % of real time, ` +
          `emulator load ${(r.load * 100).toFixed(0)} % of the core`,
      );
      if (r.minRatio >= REALTIME) best = n;
      else break;
    }
    out(
      `=> one core keeps ${best} board(s) in real time ${withHost ? 'with a johnny-five host each' : '(firmware only)'}`,
    );
  }
  if (JSON_OUT) {
    process.stdout.write(
      `${JSON.stringify({ bootRealtimeMs: boot1.wallMs, bootFlatOutMs: bootMax.wallMs, flatOutMhz: mhz, fleets: results }, null, 2)}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
