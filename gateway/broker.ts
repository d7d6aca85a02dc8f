/**
 * The embedded Aedes broker: plain MQTT over TCP (noDelay: without it a QoS1 round trip costs
 * ~44 ms of Nagle + delayed ACK) and over WebSocket, and the same over TLS (mqtts, wss). Every
 * connection is authenticated against the credential store; every publish, subscribe, will and
 * forwarded message goes through the ACL (auth/acl.ts); the limits (limits.ts) bound what one
 * connection can cost. Every refusal has a log line and a security event.
 *
 * Where each rule is enforced (aedes 1.2 hooks):
 * - socket accepted: connection count (hard ceiling), packet size guard on the MQTT parser;
 * - authenticate: connection limit (CONNACK 3), auth backoff, password (CONNACK 4), clientId
 *   `<name>` or `<name>-*` (CONNACK 5), the will's topic, retain flag and size (CONNACK 5);
 * - authorizePublish: live identity and ACL (refusal closes the connection), then payload size and
 *   rate (the message is dropped, the connection kept, clients told on their errors topic);
 * - authorizeSubscribe: rate, ACL (SUBACK 128); denied filters never stay in a persistent session;
 * - authorizeForward: every delivery, live or from an offline queue, is checked against the ACL;
 * - credential store `changed`: every connection of a removed or re-keyed identity is closed.
 */

import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import {
  Aedes,
  type AedesPublishPacket,
  type AuthenticateError,
  type Client,
  type PublishPacket,
} from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { logger } from '../lib/log.ts';
import { type ClientError, guessRef, type Topics } from '../protocol/index.ts';
import { canPublish, canRead, canSubscribe, canWill, clientIdAllowed } from './auth/acl.ts';
import type { CredentialChange, CredentialStore, Identity } from './auth/credentials.ts';
import { type SecurityEvent, SecurityMonitor } from './auth/events.ts';
import type { Bus } from './bus.ts';
import {
  AuthBackoff,
  type BrokerLimits,
  BURST_FACTOR,
  DEFAULT_LIMITS,
  dropPublish,
  FLOOD_FACTOR,
  limitPacketSize,
  maxPacketBytes,
  type PacketParser,
  TokenBucket,
} from './limits.ts';
import { memoryPersistence } from './retainedIndex.ts';
import type { TlsMaterial } from './tls.ts';

export interface BrokerTls {
  material: TlsMaterial;
  mqttsPort: number;
  wssPort: number;
}

export interface BrokerOptions {
  host: string;
  mqttPort: number;
  wsPort: number;
  topics: Topics;
  credentials: CredentialStore;
  bus: Bus;
  /** TLS listeners (mqtts, wss); none when absent. */
  tls?: BrokerTls | null;
  /** Only the TLS listeners: the plain MQTT and WebSocket ports are not opened. */
  requireTls?: boolean;
  limits?: Partial<BrokerLimits>;
  security?: SecurityMonitor;
}

export interface BrokerPorts {
  /** 0 when the listener is not open. */
  mqtt: number;
  ws: number;
  mqtts: number;
  wss: number;
}

type Handler = (topic: string, payload: Buffer) => void;
type Transport = 'mqtt' | 'ws' | 'mqtts' | 'wss';

/** What the broker keeps per connection. */
interface Conn {
  address: string;
  transport: Transport;
  identity?: Identity;
  bucket?: TokenBucket;
  /** Over-rate messages since the last one let through. */
  overRate: number;
  /** Last time (ms) a notice of each kind went to the client or the log: at most one a second. */
  noticed: Map<string, number>;
}

/** aedes' client internals the hooks read (aedes 1.2: lib/client.js, lib/handlers/connect.js). */
interface ClientInternals {
  _will?: PublishPacket | null;
  will?: PublishPacket | null;
  _parser?: PacketParser;
  subscriptions: Record<string, unknown>;
}

const identities = new WeakMap<Client, Identity>();

export function identityOf(client: Client | null): Identity | undefined {
  return client ? identities.get(client) : undefined;
}

function internals(client: Client): ClientInternals {
  return client as unknown as ClientInternals;
}

export class Broker {
  private aedes: Aedes | null = null;
  private readonly servers: (NetServer | HttpServer | TlsServer)[] = [];
  private readonly wsServers: WebSocketServer[] = [];
  private readonly log = logger('broker');
  private readonly conns = new WeakMap<Client, Conn>();
  /** Live (authenticated) connections per identity name: what a revocation closes. */
  private readonly byName = new Map<string, Set<Client>>();
  private readonly sockets = new Set<Duplex>();
  private readonly limits: BrokerLimits;
  private readonly backoff: AuthBackoff;
  readonly security: SecurityMonitor;
  /** Exceptions thrown by the gateway's own handlers (caught and logged; tests expect none). */
  handlerFailures = 0;
  /** `socketClosed` whenever a transport connection ends (tests wait on it). */
  readonly events = new EventEmitter<{ socketClosed: [] }>();
  ports: BrokerPorts = { mqtt: 0, ws: 0, mqtts: 0, wss: 0 };
  private readonly onCredentialsChanged = (change: CredentialChange) => this.cutOff(change);

  constructor(private readonly opts: BrokerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.backoff = new AuthBackoff(this.limits.authBackoff);
    this.security = opts.security ?? new SecurityMonitor();
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /** Open transport connections (authenticated or not). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Identities with at least one live connection (for tests: nothing leaks). */
  get trackedIdentities(): number {
    return this.byName.size;
  }

  /** Usernames and addresses the auth backoff remembers (bounded). */
  get backoffEntries(): number {
    return this.backoff.size;
  }

  async start(): Promise<void> {
    const { credentials } = this.opts;
    const limits = this.limits;
    const aedes = await Aedes.createBroker({
      persistence: memoryPersistence(),
      maxClientsIdLength: 128,
      // Contract topics have at most 6 levels; deeper junk is refused before it reaches the router.
      maxTopicLevels: 16,
      connectTimeout: limits.connectTimeoutMs,
      // A client that stops reading must not stall delivery to the others for long.
      drainTimeout: limits.drainTimeoutMs,
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => {
        const verdict = this.authorizeSubscribe(client, sub.topic);
        if (verdict === 'disconnect') return done(new Error('subscribe flood'), null);
        done(null, verdict ? sub : null);
      },
      authorizeForward: (client, packet) => this.authorizeForward(client, packet),
    });
    aedes.on('clientError', (client, err) => {
      if (err.message === 'drain timeout') {
        this.log.warn({ clientId: client.id }, 'slow consumer disconnected (drain timeout)');
        this.report({ kind: 'drain_timeout', clientId: client.id });
      } else this.log.debug({ clientId: client.id, err: err.message }, 'client error');
    });
    aedes.on('connectionError', (client, err) =>
      this.log.debug({ clientId: client.id, err: err.message }, 'connection error'),
    );
    aedes.on('subscribe', (subs, client) => {
      if (!client) return;
      // aedes stores every filter of a SUBSCRIBE in a persistent session, the denied ones too:
      // remove those (authorizeForward already keeps them from delivering anything).
      const live = internals(client).subscriptions;
      const denied = subs.filter((s) => (s.qos as number) === 128 && !(s.topic in live)).map((s) => s.topic);
      if (denied.length > 0 && !client.clean) {
        (
          aedes as unknown as { persistence: { removeSubscriptions(c: Client, t: string[]): Promise<void> } }
        ).persistence
          .removeSubscriptions(client, denied)
          .catch(() => undefined);
      }
      const granted = subs.filter((s) => (s.qos as number) !== 128).map((s) => s.topic);
      if (granted.length > 0) this.opts.bus.emit('subscribed', { clientId: client.id, topics: granted });
    });
    this.aedes = aedes;
    credentials.on('changed', this.onCredentialsChanged);
    credentials.watch();

    try {
      await this.listenAll(limits);
    } catch (err) {
      // A port in use: leave nothing running behind.
      await this.stop();
      throw err;
    }
  }

  private async listenAll(limits: BrokerLimits): Promise<void> {
    const host = this.opts.host;
    const wsMax = maxPacketBytes(limits) + 1024;
    if (!this.opts.requireTls) {
      const tcp = createNetServer({ noDelay: true }, (socket) => this.accept(socket, 'mqtt'));
      this.ports.mqtt = await this.listen(tcp, this.opts.mqttPort, host);
      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
      });
      this.serveWebSocket(http, 'ws', wsMax);
      this.ports.ws = await this.listen(http, this.opts.wsPort, host);
    }
    const tls = this.opts.tls;
    if (tls) {
      const secure = {
        key: tls.material.key,
        cert: tls.material.cert,
        minVersion: 'TLSv1.2' as const,
        // A handshake that never completes holds a socket: not for long.
        handshakeTimeout: limits.connectTimeoutMs,
      };
      const mqtts = createTlsServer({ ...secure, noDelay: true }, (socket) => this.accept(socket, 'mqtts'));
      mqtts.on('tlsClientError', (err, socket) =>
        this.log.debug({ address: socket.remoteAddress, err: err.message }, 'TLS handshake failed'),
      );
      this.ports.mqtts = await this.listen(mqtts, tls.mqttsPort, host);
      const https = createHttpsServer(secure, (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
      });
      https.on('tlsClientError', (err, socket) =>
        this.log.debug({ address: socket.remoteAddress, err: err.message }, 'TLS handshake failed'),
      );
      this.serveWebSocket(https, 'wss', wsMax);
      this.ports.wss = await this.listen(https, tls.wssPort, host);
    }
    this.log.info(
      { ports: this.ports, requireTls: !!this.opts.requireTls, caFile: tls?.material.caFile, limits },
      'broker listening',
    );
  }

  async stop(): Promise<void> {
    const aedes = this.aedes;
    this.aedes = null;
    this.opts.credentials.off('changed', this.onCredentialsChanged);
    this.opts.credentials.unwatch();
    for (const wss of this.wsServers) {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    }
    // Stop accepting first, then close every client (which lets the servers finish closing).
    const closing = Promise.all(this.servers.map(closeServer));
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closing;
    this.servers.length = 0;
    this.wsServers.length = 0;
    this.byName.clear();
  }

  /** Publishes from inside the broker (no client, so no ACL): the gateway's own messages. */
  publish(
    topic: string,
    payload: string | Buffer,
    opts: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.resolve();
    const packet = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos: opts.qos ?? 1,
      retain: opts.retain ?? false,
      dup: false,
    } as PublishPacket;
    return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /** Subscribes inside the broker: `handler` sees every matching publish, in order. */
  subscribe(filter: string, handler: Handler): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker is not started'));
    return new Promise((resolve) =>
      aedes.subscribe(
        filter,
        (packet, cb) => {
          try {
            handler(packet.topic, packet.payload as Buffer);
          } catch (err) {
            this.handlerFailures++;
            this.log.error({ err: (err as Error).message, topic: packet.topic }, 'handler failed');
          }
          // Not synchronously: with a backlog in aedes' router (more than its 100 deliveries at
          // once), each callback starts the next queued message inside this one, and a backlog of
          // thousands overflowed the stack (test/integration/brokerBackpressure.test.ts).
          process.nextTick(cb);
        },
        resolve,
      ),
    );
  }

  // ---- connections

  private serveWebSocket(server: HttpServer, transport: 'ws' | 'wss', maxPayload: number): void {
    // ws buffers a whole message before handing it on (100 MiB by default): bound it like MQTT.
    const wss = new WebSocketServer({ server, path: '/mqtt', maxPayload });
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => undefined);
      this.accept(stream, transport, req);
    });
    this.wsServers.push(wss);
  }

  private accept(conn: Duplex, transport: Transport, req?: IncomingMessage): void {
    const aedes = this.aedes;
    if (!aedes) {
      conn.destroy();
      return;
    }
    const address = remoteAddress(conn, req);
    const limit = this.limits.maxConnections;
    // Past the limit a client still gets a CONNACK 3 (authenticate); sockets far past it (that
    // never send CONNECT) are closed at once.
    if (this.sockets.size >= limit + Math.max(16, Math.ceil(limit / 4))) {
      if (this.noticeGlobal('connection_flood'))
        this.log.warn({ address, open: this.sockets.size, limit }, 'connection refused: far past the limit');
      this.report({ kind: 'connection_limit', address, open: this.sockets.size, limit });
      conn.destroy();
      return;
    }
    this.sockets.add(conn);
    conn.once('close', () => {
      this.sockets.delete(conn);
      this.events.emit('socketClosed');
    });
    if (conn instanceof Socket) conn.setKeepAlive(true, 60_000);
    const client = aedes.handle(conn, req);
    this.conns.set(client, { address, transport, overRate: 0, noticed: new Map() });
    const parser = internals(client)._parser;
    if (!parser) throw new Error('aedes client has no parser: the packet size guard cannot be installed');
    const max = maxPacketBytes(this.limits);
    limitPacketSize(parser, max, (bytes, cmd) => {
      this.log.warn(
        { address, clientId: client.id ?? undefined, cmd, bytes, limit: max },
        'packet too large: disconnected',
      );
      this.report({
        kind: 'packet_too_large',
        address,
        ...(client.id ? { clientId: client.id } : {}),
        bytes,
        limit: max,
      });
    });
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Readonly<Buffer> | undefined,
    done: (err: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const conn = this.conns.get(client);
    const address = conn?.address ?? 'unknown';
    const log = this.log;
    const fail = (code: 3 | 4 | 5, why: string, event?: SecurityEvent) => {
      log.warn({ clientId: client.id, username, address, why }, 'connection refused');
      this.report(
        event ?? {
          kind: 'auth_failed',
          clientId: client.id,
          address,
          reason: why,
          ...(username !== undefined ? { username } : {}),
        },
      );
      done(Object.assign(new Error(why), { returnCode: code }) as AuthenticateError, false);
    };
    const limit = this.limits.maxConnections;
    if (this.sockets.size > limit) {
      return fail(3, `the broker is at its limit of ${limit} connections`, {
        kind: 'connection_limit',
        address,
        open: this.sockets.size,
        limit,
      });
    }
    const name = username ?? '';
    const wait = this.backoff.blockedFor(name, address);
    if (wait > 0) {
      return fail(5, `too many failed logins: retry in ${Math.ceil(wait / 1000)} s`, {
        kind: 'auth_backoff',
        clientId: client.id,
        address,
        retryInMs: wait,
        ...(username !== undefined ? { username } : {}),
      });
    }
    if (!username || !password) {
      this.backoff.failed(name, address);
      return fail(4, 'missing credentials');
    }
    this.opts.credentials.verify(username, password.toString('utf8')).then(
      (identity) => {
        // Gone while scrypt ran: aedes ignores the answer, and nothing may be tracked for it.
        if (client.closed) return;
        if (!identity) {
          this.backoff.failed(username, address);
          return fail(4, 'bad username or password');
        }
        this.backoff.succeeded(username);
        if (!clientIdAllowed(identity, client.id, (n) => this.opts.credentials.has(n))) {
          return fail(5, `clientId '${client.id}' does not belong to '${username}'`, {
            kind: 'client_id_refused',
            username,
            clientId: client.id,
          });
        }
        const will = internals(client)._will;
        if (will) {
          const access = canWill(identity, will, this.opts.topics);
          const size = payloadBytes(will.payload);
          const why = !access.ok
            ? `will refused: ${access.reason}`
            : size > this.limits.maxPublishBytes
              ? `will refused: payload of ${size} bytes exceeds the limit of ${this.limits.maxPublishBytes}`
              : null;
          if (why) {
            return fail(5, why, {
              kind: 'will_refused',
              username,
              clientId: client.id,
              topic: will.topic,
              reason: why,
            });
          }
        }
        identities.set(client, identity);
        const rate = this.limits.publishRate[identity.role] ?? 0;
        if (conn) {
          conn.identity = identity;
          conn.bucket = new TokenBucket(rate, Math.max(1, rate * BURST_FACTOR));
        }
        this.track(identity.name, client);
        done(null, true);
      },
      (err: Error) => fail(5, `authentication error: ${err.message}`),
    );
  }

  private track(name: string, client: Client): void {
    let set = this.byName.get(name);
    if (!set) {
      set = new Set();
      this.byName.set(name, set);
    }
    set.add(client);
    client.conn.once('close', () => {
      const s = this.byName.get(name);
      s?.delete(client);
      if (s?.size === 0) this.byName.delete(name);
    });
  }

  /** Closes every connection of identities that were revoked or given a new password. */
  private cutOff(change: CredentialChange): void {
    for (const name of [...change.removed, ...change.rotated]) {
      const clients = this.byName.get(name);
      if (!clients) continue;
      this.byName.delete(name);
      for (const client of clients) {
        this.log.warn(
          { name, clientId: client.id, why: change.removed.includes(name) ? 'revoked' : 'new password' },
          'identity revoked: connection closed',
        );
        this.report({ kind: 'revoked', name, clientId: client.id });
        identities.delete(client);
        client.close();
      }
    }
  }

  /** The identity of a client, if it is still in the credential store with the same role. */
  private live(client: Client): Identity | undefined {
    const identity = identities.get(client);
    if (!identity) return undefined;
    return this.opts.credentials.roleOf(identity.name) === identity.role ? identity : undefined;
  }

  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (err?: Error | null) => void,
  ): void {
    // No client: aedes publishing the will of a client gone before it could (checked at CONNECT).
    if (!client) return done(null);
    // The client's own will, as it dies: checked at CONNECT, and a revoked terminal's
    // `offline` will is the truth.
    if (packet === internals(client).will) return done(null);
    const identity = this.live(client);
    const access = identity
      ? canPublish(identity, packet.topic, packet.retain, this.opts.topics)
      : { ok: false as const, reason: identities.has(client) ? 'identity revoked' : 'unauthenticated' };
    if (!access.ok) {
      if (this.notice(client, 'publish_refused'))
        this.log.warn({ clientId: client.id, topic: packet.topic, reason: access.reason }, 'publish refused');
      this.report({
        kind: 'publish_refused',
        clientId: client.id,
        topic: packet.topic,
        reason: access.reason,
      });
      return done(new Error(access.reason));
    }
    const conn = this.conns.get(client);
    if (conn?.bucket && !conn.bucket.take()) {
      conn.overRate++;
      const flood = Math.max(100, conn.bucket.burst * FLOOD_FACTOR);
      if (conn.overRate > flood) {
        this.log.warn({ clientId: client.id, dropped: conn.overRate }, 'publish flood: disconnected');
        this.report({ kind: 'flood', clientId: client.id, dropped: conn.overRate });
        return done(new Error('publish flood'));
      }
      this.report({ kind: 'rate_limited', clientId: client.id, what: 'publish' });
      if (this.notice(client, 'rate_limited')) {
        this.log.warn(
          { clientId: client.id, topic: packet.topic, rate: conn.bucket.rate, dropped: conn.overRate },
          'publish rate limit: message dropped',
        );
        this.tell(identity!, {
          ...refOf(packet.payload),
          code: 'rate_limited',
          message: `more than ${conn.bucket.rate} messages/s on this connection: message dropped, send it again later`,
        });
      }
      dropPublish(packet);
      return done(null);
    }
    if (conn) conn.overRate = 0;
    const size = payloadBytes(packet.payload);
    if (size > this.limits.maxPublishBytes) {
      const limit = this.limits.maxPublishBytes;
      this.log.warn(
        { clientId: client.id, topic: packet.topic, bytes: size, limit },
        'payload too large: message dropped',
      );
      this.report({
        kind: 'payload_too_large',
        clientId: client.id,
        topic: packet.topic,
        bytes: size,
        limit,
      });
      if (this.notice(client, 'payload_too_large')) {
        this.tell(identity!, {
          code: 'payload_too_large',
          message: `payload of ${size} bytes exceeds the broker's limit of ${limit}`,
        });
      }
      dropPublish(packet);
      return done(null);
    }
    done(null);
  }

  /** true: grant; false: SUBACK 128; 'disconnect': a subscribe flood. */
  private authorizeSubscribe(client: Client, filter: string): boolean | 'disconnect' {
    const identity = this.live(client);
    const conn = this.conns.get(client);
    if (conn?.bucket && !conn.bucket.take()) {
      conn.overRate++;
      if (conn.overRate > Math.max(100, conn.bucket.burst * FLOOD_FACTOR)) {
        this.log.warn({ clientId: client.id, dropped: conn.overRate }, 'subscribe flood: disconnected');
        this.report({ kind: 'flood', clientId: client.id, dropped: conn.overRate });
        return 'disconnect';
      }
      if (this.notice(client, 'rate_limited'))
        this.log.warn({ clientId: client.id, topic: filter }, 'subscribe rate limit: refused');
      this.report({ kind: 'rate_limited', clientId: client.id, what: 'subscribe' });
      return false;
    }
    if (conn) conn.overRate = 0;
    const access = identity
      ? canSubscribe(identity, filter, this.opts.topics)
      : { ok: false as const, reason: 'unauthenticated or revoked' };
    if (access.ok) return true;
    if (this.notice(client, 'subscribe_refused'))
      this.log.warn({ clientId: client.id, topic: filter, reason: access.reason }, 'subscribe refused');
    this.report({ kind: 'subscribe_refused', clientId: client.id, topic: filter, reason: access.reason });
    return false;
  }

  private authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const identity = this.live(client);
    if (identity && canRead(identity, packet.topic, this.opts.topics)) return packet;
    if (this.notice(client, 'forward_refused'))
      this.log.warn({ clientId: client.id, topic: packet.topic }, 'delivery refused by the ACL');
    this.report({ kind: 'forward_refused', clientId: client.id, topic: packet.topic });
    return null;
  }

  // ---- helpers

  /** Tells a client identity what was refused, on its errors topic. */
  private tell(identity: Identity, error: ClientError): void {
    if (identity.role !== 'client') return;
    void this.publish(this.opts.topics.client(identity.name, 'errors'), JSON.stringify(error), {
      qos: 1,
    }).catch(() => undefined);
  }

  /** At most one notice (log line, error message) a second per connection and kind. */
  private notice(client: Client, kind: string): boolean {
    const conn = this.conns.get(client);
    if (!conn) return true;
    const now = Date.now();
    const last = conn.noticed.get(kind) ?? 0;
    if (now - last < 1000) return false;
    conn.noticed.set(kind, now);
    return true;
  }

  private readonly globalNotices = new Map<string, number>();
  private noticeGlobal(kind: string): boolean {
    const now = Date.now();
    if (now - (this.globalNotices.get(kind) ?? 0) < 1000) return false;
    this.globalNotices.set(kind, now);
    return true;
  }

  private report(event: SecurityEvent): void {
    this.security.report(event);
  }

  private listen(server: NetServer | HttpServer | TlsServer, port: number, host: string): Promise<number> {
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // Node's default backlog (511) drops SYNs in a connect storm (thousands of devices
      // reconnecting after a restart), and each dropped SYN waits 1 s, 3 s, 7 s... to be retried.
      // The kernel caps it at net.core.somaxconn (4096 here).
      server.listen({ port, host, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }
}

function payloadBytes(payload: Buffer | string | undefined): number {
  if (payload === undefined) return 0;
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

function refOf(payload: Buffer | string): { ref?: string } {
  if (payloadBytes(payload) > 16 * 1024) return {};
  const ref = guessRef(payload);
  return ref === undefined ? {} : { ref };
}

function remoteAddress(conn: Duplex, req?: IncomingMessage): string {
  const socket = conn instanceof Socket ? conn : (req?.socket as Socket | TLSSocket | undefined);
  return socket?.remoteAddress ?? 'unknown';
}

function closeServer(server: NetServer | HttpServer | TlsServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
