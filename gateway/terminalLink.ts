/**
 * Commands to terminals and their replies, correlated by command id. End to end, not hop by hop:
 * a PUBACK proves nothing, only a reply does, so commands are re-sent until answered.
 */

import { logger } from '../lib/log.ts';
import { type Command, type CommandOp, parsePayload, Reply, type Topics } from '../protocol/index.ts';
import type { Broker } from './broker.ts';
import type { Bus } from './bus.ts';
import type { LinkShaper } from './faults/linkShaper.ts';

export class StoppedError extends Error {
  constructor() {
    super('gateway is stopping');
  }
}

export interface LinkOptions {
  /** Time to wait for a reply before re-sending. */
  timeoutMs: number;
  /** Cap of the exponential backoff between re-sends of a decision. */
  maxBackoffMs: number;
}

interface Pending {
  tid: string;
  op: CommandOp;
  sentAt: number;
  resolve: (reply: Reply) => void;
}

type CommandBody = Omit<Command, 'id'>;

export class TerminalLink {
  private readonly pending = new Map<string, Pending>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stopWaiters = new Set<() => void>();
  private counter = 0;
  private readonly epoch = Date.now().toString(36);
  private stopped = false;
  private readonly log = logger('link');

  constructor(
    private readonly broker: Broker,
    private readonly topics: Topics,
    private readonly bus: Bus,
    private readonly isOnline: (tid: string) => boolean,
    private readonly shaper: LinkShaper,
    private readonly opts: LinkOptions,
  ) {}

  nextId(): string {
    return `${this.epoch}.${(++this.counter).toString(36)}`;
  }

  /** Feeds a message from `terminals/<tid>/reply`. */
  onReply(tid: string, payload: Buffer): void {
    const parsed = parsePayload(Reply, payload);
    if (!parsed.ok) {
      this.log.warn({ tid, message: parsed.message }, 'refused reply');
      return;
    }
    const reply = parsed.value;
    const p = this.pending.get(reply.id);
    // Late and duplicate replies (after a re-send was already answered) land here and are dropped.
    if (!p || p.tid !== tid || p.op !== reply.op) return;
    this.pending.delete(reply.id);
    this.bus.emit('command', { tid, op: reply.op, ok: reply.ok, rttMs: Date.now() - p.sentAt });
    p.resolve(reply);
  }

  /**
   * Sends a command and waits for its reply, re-sending up to `attempts` times.
   * Resolves null if no reply came.
   */
  async request(tid: string, body: CommandBody, attempts = 2): Promise<Reply | null> {
    const id = this.nextId();
    for (let attempt = 0; attempt < attempts; attempt++) {
      const reply = await this.send(tid, id, body, this.opts.timeoutMs * 2 ** attempt);
      if (reply) return reply;
      this.bus.emit('commandTimeout', { tid, op: body.op });
    }
    return null;
  }

  /**
   * Sends a decided command until the terminal answers it, with exponential backoff; while the
   * terminal is offline, waits for it to come back. Rejects only with StoppedError.
   */
  async untilAnswered(tid: string, body: CommandBody, waitOnline: () => Promise<void>): Promise<Reply> {
    const id = this.nextId();
    let timeout = this.opts.timeoutMs;
    for (;;) {
      if (this.stopped) throw new StoppedError();
      if (!this.isOnline(tid)) await this.race(waitOnline());
      const reply = await this.send(tid, id, body, timeout);
      if (reply) return reply;
      this.bus.emit('commandTimeout', { tid, op: body.op });
      timeout = Math.min(timeout * 2, this.opts.maxBackoffMs);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.stopWaiters) w();
    this.stopWaiters.clear();
    this.pending.clear();
  }

  private send(tid: string, id: string, body: CommandBody, timeoutMs: number): Promise<Reply | null> {
    if (this.stopped) return Promise.reject(new StoppedError());
    return new Promise<Reply | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.stopWaiters.delete(onStop);
        if (this.pending.get(id)?.resolve === done) this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      const onStop = () => {
        clearTimeout(timer);
        reject(new StoppedError());
      };
      const done = (reply: Reply) => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.stopWaiters.delete(onStop);
        resolve(reply);
      };
      this.timers.add(timer);
      this.stopWaiters.add(onStop);
      this.pending.set(id, { tid, op: body.op, sentAt: Date.now(), resolve: done });
      const cmd: Command = { id, ...body };
      const payload = JSON.stringify(cmd);
      // Commands cross the link to the terminal: link faults apply.
      this.shaper.pass(tid, () => {
        this.broker.publish(this.topics.terminal(tid, 'cmd'), payload, { qos: 1 }).catch(() => undefined);
      });
    });
  }

  private race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onStop = () => reject(new StoppedError());
      this.stopWaiters.add(onStop);
      promise.then(
        (v) => {
          this.stopWaiters.delete(onStop);
          resolve(v);
        },
        (e: unknown) => {
          this.stopWaiters.delete(onStop);
          reject(e);
        },
      );
    });
  }
}
