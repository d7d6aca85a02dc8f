/**
 * The gateway: composition root and lifecycle. It embeds the broker, and wires intake, the
 * inventory view, the coordinator, the journal and HTTP together over the bus.
 */
import { join } from 'node:path';
import { logger } from '../lib/log.ts';
import { Inquiry, Inventory, parsePayload, TerminalEvent, TerminalState, Topics } from '../protocol/index.ts';
import { CredentialStore } from './auth/credentials.ts';
import { credentialStorePath } from './auth/demo.ts';
import { SecurityMonitor } from './auth/events.ts';
import { Breakers } from './breaker.ts';
import { Broker } from './broker.ts';
import { Bus } from './bus.ts';
import { type GatewayConfig, loadConfig } from './config.ts';
import { Coordinator } from './coordinator.ts';
import { LinkShaper } from './faults/linkShaper.ts';
import { Nemesis } from './faults/nemesis.ts';
import { HttpServer } from './http.ts';
import { Intake } from './intake.ts';
import { InventoryView } from './inventoryView.ts';
import type { Journal } from './journal/journal.ts';
import { SqliteJournal } from './journal/sqliteJournal.ts';
import { Metrics } from './metrics.ts';
import { Orders } from './orders.ts';
import { Statistics } from './stats.ts';
import { TerminalLink } from './terminalLink.ts';
import { defaultTlsHosts, ensureTls, type TlsMaterial } from './tls.ts';

export interface GatewayPorts {
  /** 0 when the listener is closed (STOCKGATE_REQUIRE_TLS). */
  mqtt: number;
  ws: number;
  http: number;
  /** 0 when TLS is off. */
  mqtts: number;
  wss: number;
}

export class Gateway {
  readonly config: GatewayConfig;
  readonly bus = new Bus();
  readonly topics: Topics;
  readonly view = new InventoryView();
  readonly credentials: CredentialStore;
  /** Every refusal of the broker (auth, ACL, limits), as events. */
  readonly security = new SecurityMonitor();
  /** The certificates of the TLS listeners (with the CA clients should trust), once started. */
  tls: TlsMaterial | null = null;
  private readonly log = logger('gateway');
  private journal: Journal | null = null;
  private broker: Broker | null = null;
  private coordinator: Coordinator | null = null;
  private orders: Orders | null = null;
  private http: HttpServer | null = null;
  private statistics: Statistics | null = null;
  private nemesis: Nemesis | null = null;
  readonly breakers: Breakers;
  private startedAt = 0;
  ports: GatewayPorts = { mqtt: 0, ws: 0, http: 0, mqtts: 0, wss: 0 };
  /** What the last start found in flight in the journal. */
  recovery = { openOrders: 0, openTxs: 0, records: 0 };

  constructor(overrides: Partial<GatewayConfig> = {}) {
    this.config = loadConfig(overrides);
    this.topics = new Topics(this.config.baseTopic);
    this.credentials = new CredentialStore(credentialStorePath(this.config.dataDir));
    this.breakers = new Breakers(this.bus);
  }

  async start(): Promise<GatewayPorts> {
    const c = this.config;
    this.credentials.load();
    const journal = new SqliteJournal(join(c.dataDir, 'journal.sqlite'));
    const recovered = await journal.open();
    this.journal = journal;
    if (c.tls.enabled || c.tls.require) {
      this.tls = await ensureTls({
        dataDir: c.dataDir,
        certFile: c.tls.cert,
        keyFile: c.tls.key,
        caFile: c.tls.ca,
        hosts: defaultTlsHosts(c.host),
      });
    }
    const broker = new Broker({
      host: c.host,
      mqttPort: c.mqttPort,
      wsPort: c.wsPort,
      topics: this.topics,
      credentials: this.credentials,
      bus: this.bus,
      tls: this.tls ? { material: this.tls, mqttsPort: c.mqttsPort, wssPort: c.wssPort } : null,
      requireTls: c.tls.require,
      limits: {
        maxPublishBytes: c.maxPublishBytes,
        maxConnections: c.maxConnections,
        publishRate: c.publishRate,
        authBackoff: c.authBackoff,
        drainTimeoutMs: c.drainTimeoutMs,
        connectTimeoutMs: c.connectTimeoutMs,
      },
      security: this.security,
    });
    this.broker = broker;
    const shaper = new LinkShaper(c.nemesisSeed);
    this.log.info({ seed: c.nemesisSeed }, 'link fault seed');
    const link = new TerminalLink(broker, this.topics, this.bus, (tid) => this.view.isOnline(tid), shaper, {
      timeoutMs: c.commandTimeoutMs,
      maxBackoffMs: c.maxBackoffMs,
    });
    const orders = new Orders(journal, broker, this.topics, this.bus);
    // Statistics listen from the start; they publish on stats/... (retained, QoS 0) once a second.
    const stats = new Statistics(
      this.bus,
      this.topics,
      (topic, payload) => broker.publish(topic, payload, { qos: 0, retain: true }),
      {},
      (cid, orderId) => orders.get(cid, orderId),
      (tid) => this.breakers.state(tid),
    );
    stats.restore(recovered.openOrders);
    stats.start();
    this.statistics = stats;
    this.orders = orders;
    const coordinator = new Coordinator(
      orders,
      journal,
      this.view,
      link,
      this.bus,
      this.breakers,
      c.coordinator,
    );
    this.coordinator = coordinator;
    const intake = new Intake(orders, coordinator, journal, this.bus, {
      maxPayloadBytes: c.maxPayloadBytes,
      maxInFlightPerClient: c.maxInFlightPerClient,
    });

    await broker.start();
    const t = this.topics;
    // Everything heard from a terminal crosses its link, and link faults apply to it.
    // The last state and inventory each terminal published, as sent: when a link fault ends, the
    // gateway reads them again, as a reconnecting subscriber gets the retained messages.
    const lastRetained = new Map<string, { state?: Buffer; inventory?: Buffer }>();
    const handlers = new Map<string, (tid: string, payload: Buffer) => void>();
    const fromTerminal = (
      kind: 'state' | 'inventory' | 'reply' | 'inquiry' | 'events',
      handle: (tid: string, payload: Buffer) => void,
    ) => {
      handlers.set(kind, handle);
      return broker.subscribe(t.allTerminals(kind), (topic, payload) => {
        const parsed = t.parse(topic);
        if (parsed?.family !== 'terminal') return;
        const tid = parsed.tid;
        if (kind === 'state' || kind === 'inventory') {
          let last = lastRetained.get(tid);
          if (!last) {
            last = {};
            lastRetained.set(tid, last);
          }
          last[kind] = payload;
        }
        shaper.pass(tid, () => handle(tid, payload));
      });
    };
    shaper.on('healed', (tid) => {
      const last = lastRetained.get(tid);
      for (const kind of ['state', 'inventory'] as const) {
        const payload = last?.[kind];
        if (payload) handlers.get(kind)?.(tid, payload);
      }
    });
    await fromTerminal('state', (tid, payload) => {
      const parsed = parsePayload(TerminalState, payload);
      if (!parsed.ok) return this.log.warn({ tid, message: parsed.message }, 'refused terminal state');
      const wasOnline = this.view.isOnline(tid);
      this.view.onState(tid, parsed.value);
      if (parsed.value.state === 'online') journal.rememberSkus(tid, parsed.value.skus);
      if (wasOnline !== this.view.isOnline(tid))
        this.bus.emit('terminal', { tid, online: this.view.isOnline(tid) });
    });
    await fromTerminal('inventory', (tid, payload) => {
      const parsed = parsePayload(Inventory, payload);
      if (!parsed.ok) return this.log.warn({ tid, message: parsed.message }, 'refused inventory');
      const added = this.view.onInventory(tid, parsed.value);
      if (added.length > 0) journal.rememberSkus(tid, added);
      this.bus.emit('inventory', { tid, items: this.view.stock(tid) });
    });
    await fromTerminal('reply', (tid, payload) => link.onReply(tid, payload));
    await fromTerminal('inquiry', (tid, payload) => {
      const parsed = parsePayload(Inquiry, payload);
      if (!parsed.ok) return this.log.warn({ tid, message: parsed.message }, 'refused inquiry');
      coordinator.onInquiry(tid, parsed.value);
    });
    await fromTerminal('events', (tid, payload) => {
      const parsed = parsePayload(TerminalEvent, payload);
      if (!parsed.ok) return this.log.warn({ tid, message: parsed.message }, 'refused terminal event');
      const e = parsed.value;
      if (e.kind === 'picked') coordinator.onPicked(tid, e);
      else if (e.sku !== undefined && e.qty !== undefined) {
        journal
          .append({
            type: 'terminal_event',
            at: Date.now(),
            terminal: tid,
            kind: e.kind,
            sku: e.sku,
            qty: e.qty,
            seq: e.seq,
          })
          .catch(() => undefined);
      }
    });
    for (const kind of ['place', 'cancel', 'query'] as const) {
      await broker.subscribe(t.allClients(kind), (topic, payload) => {
        const parsed = t.parse(topic);
        if (parsed?.family === 'client') intake.onMessage(parsed.cid, kind, payload);
      });
    }

    this.recovery = {
      openOrders: recovered.openOrders.length,
      openTxs: recovered.openTxs.length,
      records: recovered.records,
    };
    const nemesis = new Nemesis(this.topics, shaper, this.bus, {
      allowCrash: c.allowCrash,
      publish: (topic, payload, retain) => void broker.publish(topic, payload, { qos: 1, retain }),
    });
    this.nemesis = nemesis;
    for (const filter of [`${t.base}/faults/+`, `${t.base}/faults/+/+`]) {
      await broker.subscribe(filter, (topic, payload) => {
        const parsed = t.parse(topic);
        if (parsed?.family === 'fault' && parsed.kind === 'command')
          nemesis.onCommand(parsed.target, payload);
      });
    }
    nemesis.start();
    coordinator.recover(recovered);
    intake.track(recovered.openOrders);
    coordinator.start();

    const metrics = new Metrics(stats);
    this.http = new HttpServer(c.host, c.httpPort, {
      '/healthz': () => this.health(),
      '/metrics': () => metrics.render(),
    });
    await this.http.start();
    this.startedAt = Date.now();
    this.ports = { ...broker.ports, http: this.http.port };
    this.log.info(
      {
        ports: this.ports,
        dataDir: c.dataDir,
        recovered: recovered.openOrders.length,
        tlsCa: this.tls?.caFile,
        requireTls: c.tls.require,
      },
      'gateway started',
    );
    return this.ports;
  }

  async stop(): Promise<void> {
    this.statistics?.stop();
    this.statistics = null;
    this.nemesis?.stop();
    await this.coordinator?.stop();
    await this.http?.stop();
    await this.broker?.stop();
    await this.journal?.close();
    this.coordinator = null;
    this.http = null;
    this.broker = null;
    this.journal = null;
    this.log.info('gateway stopped');
  }

  /** The embedded broker (tests tap it; null when stopped). */
  get mqttBroker(): Broker | null {
    return this.broker;
  }

  /** Orders in memory by state, and how many are still open. */
  orderCounts(): { byState: Record<string, number>; open: number } {
    return { byState: this.orders?.countsByState() ?? {}, open: this.orders?.open().length ?? 0 };
  }

  /** The statistics service (while started). */
  get stats(): Statistics | null {
    return this.statistics;
  }

  get openTransactions(): number {
    return this.coordinator?.openTransactions ?? 0;
  }

  /** The journal's whole history (for tests and the analysis). */
  history() {
    if (!this.journal) throw new Error('gateway is not started');
    return this.journal.history();
  }

  private health() {
    const body = {
      status: 'ok',
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      clients: this.broker?.connectedClients ?? 0,
      terminals: { known: this.view.terminalIds().length, online: this.view.onlineCount() },
      orders: this.orderCounts(),
      openTransactions: this.openTransactions,
      faults: this.nemesis?.list() ?? [],
    };
    return { status: 200, type: 'application/json', body: `${JSON.stringify(body)}\n` };
  }
}
