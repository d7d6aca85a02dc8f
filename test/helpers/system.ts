/**
 * A whole system in one test process: a real gateway (real aedes on real TCP ports), real terminals
 * on virtual boards, and real mqtt.js clients. Everything binds port 0 and lives in a temp dir.
 */

import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { MqttClient } from 'mqtt';
import { Terminal, type TerminalOptions } from '../../firmware/terminal.ts';
import { CredentialStore, type Role } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';
import type { GatewayConfig } from '../../gateway/config.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import {
  type ClientError,
  type OrderLine,
  type OrderState,
  type OrderStatus,
  Topics,
} from '../../protocol/index.ts';

export const PASSWORD = 'test-password-1';

export interface TerminalSpec {
  id: string;
  stock: Record<string, number>;
}

export interface SystemOptions {
  terminals: TerminalSpec[];
  clients?: string[];
  gateway?: Partial<GatewayConfig>;
}

export class TestClient extends EventEmitter {
  readonly statuses = new Map<string, OrderStatus[]>();
  readonly errors: ClientError[] = [];
  constructor(
    readonly cid: string,
    readonly mqtt: MqttClient,
    private readonly topics: Topics,
  ) {
    super();
    this.setMaxListeners(1000);
    mqtt.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString()) as unknown;
      if (topic === topics.client(cid, 'status')) {
        const s = body as OrderStatus;
        const list = this.statuses.get(s.orderId) ?? [];
        list.push(s);
        this.statuses.set(s.orderId, list);
        this.emit('status', s);
      } else if (topic === topics.client(cid, 'errors')) {
        this.errors.push(body as ClientError);
        this.emit('error-message', body);
      }
    });
  }

  state(orderId: string): OrderState | undefined {
    return this.statuses.get(orderId)?.at(-1)?.state;
  }

  last(orderId: string): OrderStatus | undefined {
    return this.statuses.get(orderId)?.at(-1);
  }

  place(orderId: string, lines: OrderLine[]): Promise<unknown> {
    return this.mqtt.publishAsync(this.topics.client(this.cid, 'place'), JSON.stringify({ orderId, lines }), {
      qos: 1,
    });
  }

  raw(kind: 'place' | 'cancel' | 'query', payload: string | Buffer): Promise<unknown> {
    return this.mqtt.publishAsync(this.topics.client(this.cid, kind), payload, { qos: 1 });
  }

  cancel(orderId: string): Promise<unknown> {
    return this.raw('cancel', JSON.stringify({ orderId }));
  }

  waitFor(orderId: string, states: OrderState | OrderState[], timeoutMs = 15_000): Promise<void> {
    const want = Array.isArray(states) ? states : [states];
    return until(
      this,
      'status',
      () => want.includes(this.state(orderId)!),
      timeoutMs,
      `${orderId} to reach ${want.join('|')}`,
    );
  }

  waitError(predicate: (e: ClientError) => boolean, timeoutMs = 10_000): Promise<ClientError> {
    return until(
      this,
      'error-message',
      () => this.errors.some(predicate),
      timeoutMs,
      'an error message',
    ).then(() => this.errors.find(predicate)!);
  }
}

export class TestSystem {
  gateway!: Gateway;
  readonly terminals = new Map<string, Terminal>();
  readonly clients = new Map<string, TestClient>();
  readonly topics = new Topics();
  readonly dataDir: string;
  url = '';

  private constructor(private readonly opts: SystemOptions) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'stockgate-test-'));
  }

  static async start(opts: SystemOptions): Promise<TestSystem> {
    const sys = new TestSystem(opts);
    const store = new CredentialStore(credentialStorePath(sys.dataDir)).load();
    for (const t of opts.terminals) await store.provision(t.id, 'terminal', PASSWORD);
    for (const c of opts.clients ?? ['c1']) await store.provision(c, 'client', PASSWORD);
    await store.provision('operator', 'operator', PASSWORD);
    await sys.startGateway();
    for (const t of opts.terminals) await sys.startTerminal(t.id, t.stock);
    for (const c of opts.clients ?? ['c1']) await sys.connectClient(c);
    return sys;
  }

  async startGateway(): Promise<void> {
    const first = !this.gateway;
    // TLS listeners (when enabled) take fresh ports on each start; tests that need them read gateway.ports.
    const ports = first
      ? { mqttPort: 0, wsPort: 0, httpPort: 0, mqttsPort: 0, wssPort: 0 }
      : {
          mqttPort: this.gateway.ports.mqtt,
          wsPort: this.gateway.ports.ws,
          httpPort: this.gateway.ports.http,
          mqttsPort: 0,
          wssPort: 0,
        };
    this.gateway = new Gateway({
      dataDir: this.dataDir,
      ...ports,
      commandTimeoutMs: 300,
      maxBackoffMs: 1000,
      ...this.opts.gateway,
      coordinator: {
        maxAttempts: 3,
        prepareAttempts: 2,
        reservationTtlMs: 5000,
        unavailableWaitMs: 1500,
        reconcileMs: 2000,
        ...this.opts.gateway?.coordinator,
      },
    });
    const p = await this.gateway.start();
    this.url = `mqtt://127.0.0.1:${p.mqtt}`;
  }

  startTerminal(id: string, stock: Record<string, number> = {}): Promise<Terminal> {
    return this.startTerminalWith(id, stock, {});
  }

  async startTerminalWith(
    id: string,
    stock: Record<string, number>,
    extra: Partial<TerminalOptions>,
    waitFor: 'gateway' | 'terminal' = 'gateway',
  ): Promise<Terminal> {
    await this.provision(id, 'terminal');
    const terminal = new Terminal({
      ...extra,
      id,
      url: this.url,
      password: PASSWORD,
      dataDir: join(this.dataDir, 'terminals', id),
      initialStock: stock,
      reconnectPeriodMs: 100,
      inquiryCheckMs: 100,
    });
    this.terminals.set(id, terminal);
    await terminal.start();
    if (waitFor === 'gateway') await this.waitTerminalOnline(id);
    else await until(terminal, 'connection', () => terminal.isOnline, 10_000, `${id} connected`);
    return terminal;
  }

  waitTerminalOnline(id: string, online = true): Promise<void> {
    const terminal = this.terminals.get(id)!;
    return Promise.all([
      until(terminal, 'connection', () => terminal.isOnline === online, 10_000, `${id} connection ${online}`),
      until(
        this.gateway.bus,
        ['terminal', 'inventory'],
        () => this.gateway.view.isOnline(id) === online,
        10_000,
        `gateway sees ${id} online=${online}`,
      ),
    ]).then(() => undefined);
  }

  /** Starts a fresh instance of a terminal from its ledger (after crash() or stop()). */
  async restartTerminal(id: string, waitFor: 'gateway' | 'terminal' = 'gateway'): Promise<Terminal> {
    const old = this.terminal(id);
    return this.startTerminalWith(id, {}, old.options, waitFor);
  }

  /** Adds an identity to the running gateway's credential store (password PASSWORD). */
  async provision(name: string, role: Role): Promise<void> {
    if (!this.gateway.credentials.has(name)) await this.gateway.credentials.provision(name, role, PASSWORD);
  }

  /** Stops the gateway (clients and terminals stay up and reconnect) and starts it again on the same ports. */
  async restartGateway(): Promise<void> {
    await this.gateway.stop();
    await this.startGateway();
    await Promise.all([...this.terminals.keys()].map((id) => this.waitTerminalOnline(id)));
  }

  async connectClient(cid: string): Promise<TestClient> {
    const client = await connectMqttAsync(this.url, {
      clientId: `${cid}-test`,
      username: cid,
      password: PASSWORD,
      reconnectPeriod: 100,
    });
    await client.subscribeAsync([this.topics.client(cid, 'status'), this.topics.client(cid, 'errors')], {
      qos: 1,
    });
    const tc = new TestClient(cid, client, this.topics);
    this.clients.set(cid, tc);
    return tc;
  }

  client(cid = 'c1'): TestClient {
    const c = this.clients.get(cid);
    if (!c) throw new Error(`no client ${cid}`);
    return c;
  }

  terminal(id: string): Terminal {
    const t = this.terminals.get(id);
    if (!t) throw new Error(`no terminal ${id}`);
    return t;
  }

  /** Stock as the terminal's ledger holds it. */
  stock(id: string, sku: string) {
    return this.terminal(id).ledger.item(sku);
  }

  /**
   * Waits until the gateway's view of a terminal shows what its ledger holds: a terminal publishes
   * its inventory at most every 20 ms, so the view may trail a change that just happened.
   */
  async viewCaughtUp(id: string, timeoutMs = 5000): Promise<void> {
    const t = this.terminal(id);
    const same = () => isDeepStrictEqual({ ...this.gateway.view.stock(id) }, t.ledger.inventory().items);
    await until(
      this.gateway.bus,
      'inventory',
      same,
      timeoutMs,
      `the view of ${id} to catch up with its ledger`,
    );
  }

  /** Waits until every transaction is acknowledged and every terminal holds no reservation. */
  async quiesce(timeoutMs = 15_000): Promise<void> {
    const quiet = () =>
      this.gateway.openTransactions === 0 &&
      this.gateway.orderCounts().byState.accepted === undefined &&
      [...this.terminals.values()].every((t) =>
        t.ledger.skus().every((s) => t.ledger.item(s)!.reserved === 0),
      );
    await until(this.gateway.bus, ['command', 'orderState', 'inventory'], quiet, timeoutMs, 'quiescence');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.mqtt.endAsync(true)));
    await Promise.all([...this.terminals.values()].map((t) => t.stop()));
    await this.gateway.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
