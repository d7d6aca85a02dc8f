/**
 * The gateway's side of fault injection (stockgate/faults/<target>): validates every fault
 * command (refusals go to faults/errors and change nothing), applies link faults and the gateway
 * crash, keeps the list of faults in force with their expiry, and publishes it on faults/active
 * (retained). Terminals apply their own faults; the gateway only tracks them.
 */

import type { z } from 'zod';
import { logger } from '../../lib/log.ts';
import {
  type FaultTarget,
  faultTargetPath,
  GatewayFault,
  LinkFault,
  parsePayload,
  TerminalFault,
  type Topics,
} from '../../protocol/index.ts';
import type { Bus } from '../bus.ts';
import type { LinkShaper } from './linkShaper.ts';

type AnyFault = GatewayFault | TerminalFault | LinkFault;

export interface ActiveFault {
  target: string;
  kind: string;
  params: Record<string, unknown>;
  since: number;
  until?: number;
}

export interface NemesisOptions {
  /** Whether `faults/gateway {kind: crash}` may kill this process (only when it runs alone). */
  allowCrash: boolean;
  publish: (topic: string, payload: string, retain: boolean) => void;
}

export class Nemesis {
  private readonly active = new Map<string, ActiveFault & { timer?: NodeJS.Timeout }>();
  private readonly log = logger('nemesis');

  constructor(
    private readonly topics: Topics,
    private readonly shaper: LinkShaper,
    private readonly bus: Bus,
    private readonly opts: NemesisOptions,
  ) {}

  start(): void {
    this.publishActive();
  }

  stop(): void {
    for (const f of this.active.values()) if (f.timer) clearTimeout(f.timer);
    this.active.clear();
    this.shaper.stop();
  }

  list(): ActiveFault[] {
    return [...this.active.values()].map(({ timer: _t, ...f }) => f);
  }

  /** A message on stockgate/faults/<target>. */
  onCommand(target: FaultTarget, payload: Buffer): void {
    const path = faultTargetPath(target);
    const schema =
      target.kind === 'gateway' ? GatewayFault : target.kind === 'terminal' ? TerminalFault : LinkFault;
    const parsed = parsePayload(schema as z.ZodType<AnyFault>, payload);
    if (!parsed.ok) {
      const unknownKind = parsed.message.includes('kind');
      this.refuse(path, unknownKind ? 'unknown_fault' : parsed.code, parsed.message);
      return;
    }
    const fault = parsed.value;
    if (fault.kind === 'heal') {
      this.healTarget(target);
      return;
    }
    if (target.kind === 'gateway') {
      if (!this.opts.allowCrash) {
        this.refuse(
          path,
          'forbidden',
          'the gateway crash fault needs the gateway in its own process (stockgate gateway / npm start)',
        );
        return;
      }
      this.log.warn('fault: gateway crash (kill -9 of this process)');
      // As abrupt as kill -9: no flush, no goodbye. The supervisor restarts us.
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    const { kind, ...params } = fault as { kind: string; durationMs?: number };
    if (target.kind === 'link')
      this.shaper.add(target.tid, fault as unknown as Parameters<LinkShaper['add']>[1]);
    // A terminal crash is an event, not a state: it is over once the terminal restarts.
    if (target.kind === 'terminal' && kind === 'crash') {
      this.log.warn({ target: path }, 'fault: terminal crash');
      return;
    }
    const key = `${path}#${kind}`;
    const previous = this.active.get(key);
    if (previous?.timer) clearTimeout(previous.timer);
    const now = Date.now();
    const entry: ActiveFault & { timer?: NodeJS.Timeout } = { target: path, kind, params, since: now };
    if (params.durationMs) {
      entry.until = now + params.durationMs;
      entry.timer = setTimeout(() => this.expire(target, key, kind), params.durationMs);
    }
    this.active.set(key, entry);
    this.log.warn({ target: path, kind, params }, 'fault in force');
    this.publishActive();
  }

  private expire(target: FaultTarget, key: string, kind: string): void {
    this.active.delete(key);
    if (target.kind === 'link') this.shaper.remove(target.tid, kind as Parameters<LinkShaper['remove']>[1]);
    this.publishActive();
  }

  private healTarget(target: FaultTarget): void {
    const path = faultTargetPath(target);
    for (const [key, f] of this.active) {
      if (f.target !== path) continue;
      if (f.timer) clearTimeout(f.timer);
      this.active.delete(key);
    }
    if (target.kind === 'link') this.shaper.heal(target.tid);
    this.log.warn({ target: path }, 'healed');
    this.publishActive();
  }

  private refuse(target: string, code: string, message: string): void {
    this.log.warn({ target, code, message }, 'refused a fault command');
    this.opts.publish(this.topics.faultErrors(), JSON.stringify({ ref: target, code, message }), false);
  }

  private publishActive(): void {
    const faults = this.list();
    this.bus.emit('faults', { active: faults });
    this.opts.publish(this.topics.faultsActive(), JSON.stringify({ at: Date.now(), faults }), true);
  }
}
