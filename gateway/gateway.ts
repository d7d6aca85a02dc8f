/**
 * The gateway: composition root and lifecycle. It embeds the broker, and wires intake, the
 * inventory view, the coordinator, the journal and HTTP together over the bus.
 */
import { join } from 'node:path';
import { logger } from '../lib/log.ts';
import { Inquiry, Inventory, parsePayload, TerminalEvent, TerminalState, Topics } from '../protocol/index.ts';
import { CredentialStore } from './auth/credentials.ts';
import { credentialStorePath } from './auth/demo.ts';
import { Broker } from './broker.ts';
import { Bus } from './bus.ts';
import { type GatewayConfig, loadConfig } from './config.ts';
import { Coordinator } from './coordinator.ts';
import { HttpServer } from './http.ts';
import { Intake } from './intake.ts';
import { InventoryView } from './inventoryView.ts';
import type { Journal } from './journal/journal.ts';
import { SqliteJournal } from './journal/sqliteJournal.ts';
import { Orders } from './orders.ts';
import { TerminalLink } from './terminalLink.ts';

export interface GatewayPorts {
  mqtt: number;
  ws: number;
  http: number;
}

export class Gateway {
  readonly config: GatewayConfig;
  readonly bus = new Bus();
  readonly topics: Topics;
  readonly view = new InventoryView();
  readonly credentials: CredentialStore;
  private readonly log = logger('gateway');
  private journal: Journal | null = null;
  private broker: Broker | null = null;
  private coordinator: Coordinator | null = null;
  private orders: Orders | null = null;
  private http: HttpServer | null = null;
  private startedAt = 0;
  ports: GatewayPorts = { mqtt: 0, ws: 0, http: 0 };
  /** What the last start found in flight in the journal. */
  recovery = { openOrders: 0, openTxs: 0, records: 0 };

  constructor(overrides: Partial<GatewayConfig> = {}) {
    this.config = loadConfig(overrides);
    this.topics = new Topics(this.config.baseTopic);
    this.credentials = new CredentialStore(credentialStorePath(this.config.dataDir));
  }

  async start(): Promise<GatewayPorts> {
    const c = this.config;
    this.credentials.load();
    const journal = new SqliteJournal(join(c.dataDir, 'journal.sqlite'));
    const recovered = await journal.open();
    this.journal = journal;
    const broker = new Broker({
      host: c.host,
      mqttPort: c.mqttPort,
      wsPort: c.wsPort,
      topics: this.topics,
      credentials: this.credentials,
      bus: this.bus,
    });
    this.broker = broker;
    const link = new TerminalLink(broker, this.topics, this.bus, (tid) => this.view.isOnline(tid), {
      timeoutMs: c.commandTimeoutMs,
      maxBackoffMs: c.maxBackoffMs,
    });
    const orders = new Orders(journal, broker, this.topics, this.bus);
    this.orders = orders;
    const coordinator = new Coordinator(orders, journal, this.view, link, this.bus, c.coordinator);
    this.coordinator = coordinator;
    const intake = new Intake(orders, coordinator, this.view, journal, this.bus, {
      maxPayloadBytes: c.maxPayloadBytes,
    });

    await broker.start();
    const t = this.topics;
    await broker.subscribe(t.allTerminals('state'), (topic, payload) => {
      const tid = t.parse(topic);
      if (tid?.family !== 'terminal') return;
      const parsed = parsePayload(TerminalState, payload);
      if (!parsed.ok) return this.log.warn({ topic, message: parsed.message }, 'refused terminal state');
      const wasOnline = this.view.isOnline(tid.tid);
      this.view.onState(tid.tid, parsed.value);
      if (parsed.value.state === 'online') journal.rememberSkus(tid.tid, parsed.value.skus);
      if (wasOnline !== this.view.isOnline(tid.tid))
        this.bus.emit('terminal', { tid: tid.tid, online: this.view.isOnline(tid.tid) });
    });
    await broker.subscribe(t.allTerminals('inventory'), (topic, payload) => {
      const tid = t.parse(topic);
      if (tid?.family !== 'terminal') return;
      const parsed = parsePayload(Inventory, payload);
      if (!parsed.ok) return this.log.warn({ topic, message: parsed.message }, 'refused inventory');
      this.view.onInventory(tid.tid, parsed.value);
      journal.rememberSkus(tid.tid, Object.keys(parsed.value.items));
      this.bus.emit('inventory', { tid: tid.tid });
    });
    await broker.subscribe(t.allTerminals('reply'), (topic, payload) => {
      const tid = t.parse(topic);
      if (tid?.family === 'terminal') link.onReply(tid.tid, payload);
    });
    await broker.subscribe(t.allTerminals('inquiry'), (topic, payload) => {
      const tid = t.parse(topic);
      if (tid?.family !== 'terminal') return;
      const parsed = parsePayload(Inquiry, payload);
      if (!parsed.ok) return this.log.warn({ topic, message: parsed.message }, 'refused inquiry');
      coordinator.onInquiry(tid.tid, parsed.value);
    });
    await broker.subscribe(t.allTerminals('events'), (topic, payload) => {
      const tid = t.parse(topic);
      if (tid?.family !== 'terminal') return;
      const parsed = parsePayload(TerminalEvent, payload);
      if (!parsed.ok) return this.log.warn({ topic, message: parsed.message }, 'refused terminal event');
      const e = parsed.value;
      if (e.kind === 'picked') coordinator.onPicked(tid.tid, e);
      else if (e.sku !== undefined && e.qty !== undefined) {
        journal
          .append({
            type: 'terminal_event',
            at: Date.now(),
            terminal: tid.tid,
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
    coordinator.recover(recovered);
    coordinator.start();

    this.http = new HttpServer(c.host, c.httpPort, { '/healthz': () => this.health() });
    await this.http.start();
    this.startedAt = Date.now();
    this.ports = { ...broker.ports, http: this.http.port };
    this.log.info(
      { ports: this.ports, dataDir: c.dataDir, recovered: recovered.openOrders.length },
      'gateway started',
    );
    return this.ports;
  }

  async stop(): Promise<void> {
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

  /** Orders in memory by state, and how many are still open. */
  orderCounts(): { byState: Record<string, number>; open: number } {
    return { byState: this.orders?.countsByState() ?? {}, open: this.orders?.open().length ?? 0 };
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
    };
    return { status: 200, type: 'application/json', body: `${JSON.stringify(body)}\n` };
  }
}
