/**
 * The nemesis's plan, as a pure seeded function: which fault, on which target, when, for how long.
 * Faults are drawn from the classes asked for; a target carries one fault at a time.
 */
import { Rng } from '../../lib/random.ts';

export const SERVER_FAULTS = [
  'terminal-crash',
  'freeze',
  'slow',
  'stale',
  'drop',
  'duplicate',
  'delay',
  'reorder',
  'partition',
  'gateway-crash',
] as const;
export const CLIENT_FAULTS = ['client-disconnect', 'client-storm', 'cancel-race', 'malformed'] as const;
export const FAULT_CLASSES = [...SERVER_FAULTS, ...CLIENT_FAULTS] as const;
export type FaultClass = (typeof FAULT_CLASSES)[number];

export interface PlannedFault {
  at: number;
  durationMs: number;
  /** faults/<target> path */
  target: string;
  payload: Record<string, unknown>;
  faultClass: FaultClass;
}

export function parseFaults(list: string): FaultClass[] {
  if (list === 'all') return [...FAULT_CLASSES];
  if (list === 'none' || list === '') return [];
  const out: FaultClass[] = [];
  for (const name of list.split(',').map((s) => s.trim())) {
    if (!(FAULT_CLASSES as readonly string[]).includes(name)) {
      throw new Error(`unknown fault class '${name}': one of ${FAULT_CLASSES.join(', ')}, or all`);
    }
    out.push(name as FaultClass);
  }
  return out;
}

function payloadFor(
  c: FaultClass,
  rng: Rng,
  durationMs: number,
): { kind: 'terminal' | 'link' | 'gateway'; payload: Record<string, unknown> } {
  switch (c) {
    case 'terminal-crash':
      return { kind: 'terminal', payload: { kind: 'crash', durationMs } };
    case 'freeze':
      return { kind: 'terminal', payload: { kind: 'freeze', durationMs } };
    case 'slow':
      return { kind: 'terminal', payload: { kind: 'slow', ms: rng.int(100, 1500), durationMs } };
    case 'stale':
      return { kind: 'terminal', payload: { kind: 'stale', durationMs } };
    case 'drop':
      return { kind: 'link', payload: { kind: 'drop', pct: rng.int(20, 80), durationMs } };
    case 'duplicate':
      return { kind: 'link', payload: { kind: 'duplicate', pct: rng.int(30, 100), durationMs } };
    case 'delay':
      return {
        kind: 'link',
        payload: { kind: 'delay', ms: rng.int(50, 800), jitterMs: rng.int(0, 400), durationMs },
      };
    case 'reorder':
      return { kind: 'link', payload: { kind: 'reorder', durationMs } };
    case 'partition':
      return { kind: 'link', payload: { kind: 'partition', durationMs } };
    case 'gateway-crash':
      return { kind: 'gateway', payload: { kind: 'crash' } };
    default:
      throw new Error(`${c} is a client fault`);
  }
}

/** The server-side faults of a run of `durationMs` over `terminals`. */
export function planFaults(opts: {
  seed: number;
  durationMs: number;
  classes: readonly FaultClass[];
  terminals: readonly string[];
}): PlannedFault[] {
  const rng = new Rng(opts.seed ^ 0x5eed);
  const classes = opts.classes.filter((c) => (SERVER_FAULTS as readonly string[]).includes(c));
  if (classes.length === 0 || opts.terminals.length === 0) return [];
  const busyUntil = new Map<string, number>();
  const plan: PlannedFault[] = [];
  let lastGatewayCrash = Number.NEGATIVE_INFINITY;
  // Leave the first second alone (everyone connects) and stop early enough to heal.
  for (let at = 1000 + rng.int(0, 1000); at < opts.durationMs - 1000; at += rng.int(800, 2500)) {
    const c = rng.pick(classes);
    const durationMs = rng.int(800, 4000);
    const { kind, payload } = payloadFor(c, rng, durationMs);
    const target =
      kind === 'gateway'
        ? 'gateway'
        : `${kind === 'terminal' ? 'terminals' : 'links'}/${rng.pick(opts.terminals)}`;
    if (kind === 'gateway') {
      // A gateway restart takes a few seconds of tsx start-up: space them out.
      if (at - lastGatewayCrash < 6000) continue;
      lastGatewayCrash = at;
    }
    if ((busyUntil.get(target) ?? 0) > at) continue;
    busyUntil.set(target, at + durationMs);
    plan.push({ at, durationMs: kind === 'gateway' ? 0 : durationMs, target, payload, faultClass: c });
  }
  // Every class asked for appears at least once when the run is long enough.
  for (const c of classes) {
    if (plan.some((p) => p.faultClass === c)) continue;
    const at = rng.int(1000, Math.max(1001, opts.durationMs - 2000));
    const durationMs = rng.int(800, 2000);
    const { kind, payload } = payloadFor(c, rng, durationMs);
    const target =
      kind === 'gateway'
        ? 'gateway'
        : `${kind === 'terminal' ? 'terminals' : 'links'}/${rng.pick(opts.terminals)}`;
    plan.push({ at, durationMs: kind === 'gateway' ? 0 : durationMs, target, payload, faultClass: c });
  }
  return plan.sort((a, b) => a.at - b.at);
}
