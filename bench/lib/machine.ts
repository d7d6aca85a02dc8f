/**
 * What the bench knows about the machine and its processes: the description that goes with every
 * figure (cores, memory, CPU model, Node), how busy the machine is with other work (load average,
 * CPU used by processes that are not ours), and per-process CPU time and RSS read from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalGiB: number;
  memAvailableGiB: number;
  /** `free -h`, as printed. */
  freeH: string;
  node: string;
  platform: string;
  /** Max open files (soft, hard) of this process; children inherit it. */
  openFiles: { soft: number; hard: number };
  loadavg: number[];
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function openFileLimits(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(read('/proc/self/limits'));
  const n = (s: string | undefined) =>
    s === undefined ? 0 : s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

export function machineInfo(): MachineInfo {
  const cpuModel =
    /^model name\s*:\s*(.+)$/m.exec(read('/proc/cpuinfo'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? '?';
  const memAvailable = /^MemAvailable:\s+(\d+) kB/m.exec(read('/proc/meminfo'))?.[1];
  let freeH = '';
  try {
    freeH = execFileSync('free', ['-h'], { encoding: 'utf8' }).trimEnd();
  } catch {
    freeH = '(free not available)';
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    memTotalGiB: round(os.totalmem() / 2 ** 30, 1),
    memAvailableGiB: round(Number(memAvailable ?? 0) / 2 ** 20, 1),
    freeH,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    openFiles: openFileLimits(),
    loadavg: os.loadavg().map((l) => round(l, 2)),
  };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  at: number;
  /** user + system CPU time, ms. */
  cpuMs: number;
  rssBytes: number;
  /** Peak RSS so far. */
  hwmBytes: number;
}

/** CPU time and memory of one process (and not its children). Null once it is gone. */
export function procSample(pid: number): ProcSample | null {
  const stat = read(`/proc/${pid}/stat`);
  const status = read(`/proc/${pid}/status`);
  if (!stat || !status) return null;
  // Fields after the command name (which may contain spaces), 1-based field 14/15 = utime/stime.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return {
    at: performance.now(),
    cpuMs: (ticks * 1000) / CLK_TCK,
    rssBytes: kb('VmRSS'),
    hwmBytes: kb('VmHWM'),
  };
}

/** CPU use between two samples, in cores (1.0 = one core busy). */
export function cores(a: ProcSample, b: ProcSample): number {
  const wall = b.at - a.at;
  return wall > 0 ? (b.cpuMs - a.cpuMs) / wall : 0;
}

/** Busy CPU time of the whole machine (all processes), ms, from /proc/stat. */
export function machineBusyMs(): { at: number; busyMs: number } {
  const line = read('/proc/stat').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice: busy = all but idle and iowait
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return { at: performance.now(), busyMs: (busy * 1000) / CLK_TCK };
}

/**
 * How busy the machine was with work other than ours over a window: start it, then `end()` with
 * the pids that are ours (this process is counted as ours too).
 */
export class LoadWindow {
  private readonly machine = machineBusyMs();
  private readonly mine = new Map<number, ProcSample>();
  private readonly loadStart = os.loadavg()[0] ?? 0;

  constructor(pids: number[]) {
    for (const pid of [process.pid, ...pids]) {
      const s = procSample(pid);
      if (s) this.mine.set(pid, s);
    }
  }

  /** Adds a process that started after the window opened. */
  add(pid: number): void {
    const s = procSample(pid);
    if (s && !this.mine.has(pid)) this.mine.set(pid, { ...s, cpuMs: 0 });
  }

  end(): { otherCores: number; oursCores: number; loadavg1: number } {
    const m = machineBusyMs();
    const wall = m.at - this.machine.at;
    let ours = 0;
    for (const [pid, a] of this.mine) {
      const b = procSample(pid);
      if (b) ours += b.cpuMs - a.cpuMs;
    }
    const total = m.busyMs - this.machine.busyMs;
    return {
      otherCores: round(Math.max(0, total - ours) / wall, 2),
      oursCores: round(ours / wall, 2),
      loadavg1: round(Math.max(this.loadStart, os.loadavg()[0] ?? 0), 2),
    };
  }
}
