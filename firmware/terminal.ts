/**
 * The stock terminal's host program: the MQTT side of a terminal. It owns a durable ledger and
 * speaks the contract: retained `state` (with a last will) and `inventory`, `cmd` in, `reply`,
 * `events` and `inquiry` out. The board (virtual, emulated or serial) and its panel sit beside it
 * and drive it through `pick()`, `restock()` and `count()`; they listen to its events.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { type Logger, logger } from '../lib/log.ts';
import { connectMqtt } from '../lib/mqtt.ts';
import { mutation } from '../lib/mutations.ts';
import {
  Command,
  type OrderLine,
  parsePayload,
  type Reply,
  type TerminalEvent,
  TerminalFault,
  Topics,
} from '../protocol/index.ts';
import { TerminalFaultState } from './faults.ts';
import { commandToOp, type LedgerOp, type LedgerResult } from './ledger.ts';
import { LedgerStore } from './ledgerStore.ts';

export const TERMINAL_FIRMWARE = 'stockgate-terminal/0.1';

export interface TerminalOptions {
  id: string;
  url: string;
  username?: string;
  password?: string;
  baseTopic?: string;
  /** Where the ledger lives (one folder per terminal). */
  dataDir: string;
  /** What the retained state says this terminal runs on. */
  board?: string;
  firmware?: string;
  /** Stock to create when the ledger is brand new; ignored when resuming. */
  initialStock?: Record<string, number>;
  /** TTL for prepared reservations when a prepare carries none. */
  defaultTtlMs?: number;
  /** How often to look for reservations whose TTL passed. */
  inquiryCheckMs?: number;
  /**
   * The least time between two inventory publishes (default 20 ms). A change after a quiet spell is
   * published at once; changes within the interval are coalesced into one publish at its end.
   */
  inventoryIntervalMs?: number;
  sync?: boolean;
  /**
   * Wait between reconnect attempts (default 250 ms): orders in flight when the gateway restarts
   * wait for their terminals, and a refused attempt costs nothing.
   */
  reconnectPeriodMs?: number;
  /**
   * Awaited before each command is handled; resolving false drops the command unanswered. The
   * fault injector (freeze, slow) and tests hold or delay commands through it.
   */
  commandGate?: (cmd: Command) => Promise<boolean>;
  /** Obey fault commands on `faults/terminals/<id>` (default true). */
  faults?: boolean;
}

export interface TerminalEvents {
  connection: [online: boolean];
  committed: [tx: string, lines: OrderLine[]];
  picked: [tx: string, lines: OrderLine[]];
  inventory: [];
  command: [cmd: Command, reply: Reply];
  /** Told to crash: the owner calls crash() and restarts it after `durationMs`. */
  crashRequested: [durationMs: number | undefined];
  /** The ledger changed durably (any op: command, pick, restock, count). The panel redraws on it. */
  changed: [];
}

export class Terminal extends EventEmitter<TerminalEvents> {
  readonly id: string;
  private readonly opts: TerminalOptions;
  private readonly topics: Topics;
  private readonly log: Logger;
  private store: LedgerStore | null = null;
  private client: MqttClient | null = null;
  private inquiryTimer: NodeJS.Timeout | null = null;
  private inventoryScheduled = false;
  private inventoryTimer: NodeJS.Timeout | null = null;
  private lastInventoryAt = Number.NEGATIVE_INFINITY;
  private readonly lastInquiry = new Map<string, number>();
  private online = false;
  readonly faults = new TerminalFaultState();

  constructor(opts: TerminalOptions) {
    super();
    this.id = opts.id;
    this.opts = opts;
    this.topics = new Topics(opts.baseTopic);
    this.log = logger('terminal', { tid: opts.id });
    this.faults.on('crash', (ms) => this.emit('crashRequested', ms));
    this.faults.on('changed', () => {
      // Whatever changed while frozen or stale is published once healed.
      if (!this.faults.frozen && !this.faults.stale) this.scheduleInventory();
    });
  }

  get ledger() {
    if (!this.store) throw new Error(`terminal ${this.id} is not started`);
    return this.store.ledger;
  }

  /** The options it was made with (to start a fresh instance after a crash). */
  get options(): Readonly<TerminalOptions> {
    return this.opts;
  }

  get isOnline(): boolean {
    return this.online;
  }

  /** Whether start() ran and the ledger is open (false again after stop() or crash()). */
  get isStarted(): boolean {
    return this.store !== null;
  }

  /**
   * What the retained state says this terminal runs on (`board`, `firmware`): the board's firmware
   * is known only after its handshake, so a board host calls this before start(). When online, the
   * state is published again.
   */
  describeBoard(board: string, firmware?: string): void {
    this.opts.board = board;
    if (firmware !== undefined) this.opts.firmware = firmware;
    if (this.online) this.publishState();
  }

  async start(): Promise<void> {
    this.store = await LedgerStore.open({ dir: this.opts.dataDir, sync: this.opts.sync ?? true });
    const { recovery } = this.store;
    this.log.info({ ...recovery, seq: this.store.ledger.seq }, 'ledger recovered');
    if (this.store.isEmpty && this.opts.initialStock) {
      for (const [sku, qty] of Object.entries(this.opts.initialStock)) {
        await this.store.apply({ op: 'restock', sku, qty, at: Date.now() });
      }
    }
    const stateTopic = this.topics.terminal(this.id, 'state');
    this.client = connectMqtt(this.opts.url, {
      clientId: this.id,
      username: this.opts.username ?? this.id,
      password: this.opts.password,
      clean: true,
      reconnectPeriod: this.opts.reconnectPeriodMs ?? 250,
      connectTimeout: 10_000,
      will: {
        topic: stateTopic,
        payload: Buffer.from(JSON.stringify({ state: 'offline' })),
        qos: 1,
        retain: true,
      },
    });
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => this.setOnline(false));
    this.client.on('error', (err) => this.log.warn({ err: err.message }, 'mqtt error'));
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    const check = this.opts.inquiryCheckMs ?? 500;
    this.inquiryTimer = setInterval(() => this.inquireExpired(), check);
  }

  /** Graceful stop: says offline (retained), then closes the ledger. */
  async stop(): Promise<void> {
    if (this.inquiryTimer) clearInterval(this.inquiryTimer);
    this.inquiryTimer = null;
    this.cancelInventory();
    const client = this.client;
    this.client = null;
    if (client) {
      if (client.connected) {
        await client
          .publishAsync(this.topics.terminal(this.id, 'state'), JSON.stringify({ state: 'offline' }), {
            qos: 1,
            retain: true,
          })
          .catch(() => undefined);
      }
      await client.endAsync();
    }
    this.setOnline(false);
    await this.store?.close();
    this.store = null;
  }

  /**
   * Dies as with a crash: the socket is dropped without DISCONNECT (so the broker publishes the
   * last will) and nothing not yet durable survives.
   */
  async crash(): Promise<void> {
    if (this.inquiryTimer) clearInterval(this.inquiryTimer);
    this.inquiryTimer = null;
    this.cancelInventory();
    const client = this.client;
    this.client = null;
    if (client) {
      client.stream?.destroy();
      await client.endAsync(true);
    }
    this.setOnline(false);
    await this.store?.close().catch(() => undefined);
    this.store = null;
  }

  /** Picks the given transaction, or the oldest pending one. Returns the tx picked. */
  async pick(tx?: string): Promise<string | null> {
    const target = tx ?? this.ledger.pendingPicks()[0]?.tx;
    if (!target) return null;
    const rec = this.ledger.tx(target);
    const result = await this.applyLocal({ op: 'pick', tx: target, at: Date.now() });
    if (!result.ok || !rec) return null;
    if (result.changed) {
      const seq = this.ledger.seq;
      for (const line of rec.lines)
        this.publishEvent({ seq, kind: 'picked', sku: line.sku, qty: line.qty, tx: target });
      this.emit('picked', target, rec.lines);
    }
    return target;
  }

  async restock(sku: string, qty: number): Promise<LedgerResult> {
    const result = await this.applyLocal({ op: 'restock', sku, qty, at: Date.now() });
    if (result.changed) this.publishEvent({ seq: this.ledger.seq, kind: 'restock', sku, qty });
    return result;
  }

  async count(sku: string, qty: number): Promise<LedgerResult> {
    const result = await this.applyLocal({ op: 'count', sku, qty, at: Date.now() });
    if (result.changed) this.publishEvent({ seq: this.ledger.seq, kind: 'count', sku, qty });
    return result;
  }

  private async applyLocal(op: LedgerOp): Promise<LedgerResult> {
    if (!this.store) throw new Error(`terminal ${this.id} is not started`);
    const result = await this.store.apply(op);
    if (result.changed) {
      this.scheduleInventory();
      this.emit('changed');
    }
    return result;
  }

  private onConnect(): void {
    const client = this.client;
    if (!client) return;
    const topics = [this.topics.terminal(this.id, 'cmd')];
    if (this.opts.faults !== false) topics.push(this.topics.fault({ kind: 'terminal', tid: this.id }));
    client.subscribe(topics, { qos: 1 }, (err) => {
      if (err) {
        this.log.error({ err: err.message }, 'subscribe to cmd failed');
        return;
      }
      this.publishState();
      this.publishInventory();
      this.setOnline(true);
    });
  }

  private setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    this.emit('connection', online);
  }

  private publishState(): void {
    if (!this.store) return;
    const payload = {
      state: 'online',
      board: this.opts.board ?? 'virtual',
      firmware: this.opts.firmware ?? TERMINAL_FIRMWARE,
      skus: this.store.ledger.skus(),
    };
    this.client?.publish(this.topics.terminal(this.id, 'state'), JSON.stringify(payload), {
      qos: 1,
      retain: true,
    });
  }

  private scheduleInventory(): void {
    if (this.inventoryScheduled) return;
    this.inventoryScheduled = true;
    // The whole inventory is republished (retained) after a change: under load a terminal's ledger
    // changes hundreds of times a second (prepare, commit, pick per order), and every publish costs
    // the gateway a parse of the whole inventory. So at most one per interval; the gateway's view
    // stays safe meanwhile (holds cover reservations until an inventory shows them).
    const interval = this.opts.inventoryIntervalMs ?? 20;
    const wait = Math.max(0, this.lastInventoryAt + interval - performance.now());
    const fire = () => {
      this.inventoryTimer = null;
      this.inventoryScheduled = false;
      this.publishInventory();
    };
    // Even with no wait, a tick's worth of changes is coalesced.
    if (wait === 0) setImmediate(fire);
    else this.inventoryTimer = setTimeout(fire, wait);
  }

  private cancelInventory(): void {
    if (this.inventoryTimer) clearTimeout(this.inventoryTimer);
    this.inventoryTimer = null;
    this.inventoryScheduled = false;
  }

  private publishInventory(): void {
    if (!this.store || !this.client || this.faults.frozen || this.faults.stale) return;
    const inventory = this.store.ledger.inventory();
    this.lastInventoryAt = performance.now();
    this.client.publish(this.topics.terminal(this.id, 'inventory'), JSON.stringify(inventory), {
      qos: 1,
      retain: true,
    });
    this.emit('inventory');
  }

  private publishEvent(event: TerminalEvent): void {
    // A frozen host says nothing; the gateway learns of the pick when it asks again.
    if (this.faults.frozen) return;
    this.client?.publish(this.topics.terminal(this.id, 'events'), JSON.stringify(event), { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.fault({ kind: 'terminal', tid: this.id })) {
      const fault = parsePayload(TerminalFault, payload);
      if (!fault.ok) {
        this.log.warn({ message: fault.message }, 'ignored an invalid fault command');
        return;
      }
      this.log.warn({ fault: fault.value }, 'fault');
      this.faults.apply(fault.value);
      return;
    }
    if (topic !== this.topics.terminal(this.id, 'cmd')) return;
    if (this.faults.frozen) return;
    const parsed = parsePayload(Command, payload);
    if (!parsed.ok) {
      this.log.warn({ code: parsed.code, message: parsed.message }, 'refused command');
      return;
    }
    const cmd = parsed.value;
    const gate = this.opts.commandGate;
    const handle = gate
      ? gate(cmd).then((pass) => (pass ? this.handleCommand(cmd) : undefined))
      : this.handleCommand(cmd);
    void handle.catch((err: Error) => this.log.error({ err: err.message }, 'command failed'));
  }

  private async handleCommand(cmd: Command): Promise<void> {
    const slow = this.faults.slowMs;
    if (slow > 0) await new Promise((resolve) => setTimeout(resolve, slow));
    const store = this.store;
    if (!store || this.faults.frozen) return;
    const before = store.ledger.tx(cmd.tx)?.status;
    const result = await this.applyLocal(commandToOp(cmd, Date.now(), this.opts.defaultTtlMs ?? 10_000));
    const reply: Reply = { id: cmd.id, tx: cmd.tx, op: cmd.op, ok: result.ok, seq: store.ledger.seq };
    if (result.code && result.code !== 'below_held') reply.code = result.code;
    this.client?.publish(this.topics.terminal(this.id, 'reply'), JSON.stringify(reply), { qos: 1 });
    this.lastInquiry.delete(cmd.tx);
    this.emit('command', cmd, reply);
    if (cmd.op === 'commit' && result.ok && before === 'prepared') {
      this.emit('committed', cmd.tx, store.ledger.tx(cmd.tx)?.lines ?? []);
    }
  }

  /** Asks for the decision on every prepared reservation whose TTL passed, at most once per TTL. */
  private inquireExpired(): void {
    if (!this.store || !this.client?.connected || this.faults.frozen) return;
    const now = Date.now();
    for (const tx of this.store.ledger.expired(now)) {
      if (mutation('release-on-ttl')) {
        // The defect the TTL inquiry exists to prevent: drop the reservation without asking.
        void this.applyLocal({ op: 'abort', tx, at: now });
        continue;
      }
      const rec = this.store.ledger.tx(tx);
      const last = this.lastInquiry.get(tx) ?? 0;
      if (rec && now - last >= Math.max(rec.ttlMs, 1000)) {
        this.lastInquiry.set(tx, now);
        this.log.info({ tx }, 'reservation outlived its TTL: asking for the decision');
        this.client.publish(this.topics.terminal(this.id, 'inquiry'), JSON.stringify({ tx }), { qos: 1 });
      }
    }
  }
}
