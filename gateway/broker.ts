/**
 * The embedded Aedes broker: plain MQTT over TCP (noDelay: without it a QoS1 round trip costs
 * ~44 ms of Nagle + delayed ACK) and MQTT over WebSocket. Every connection is authenticated
 * against the credential store; every publish and subscribe goes through the ACL.
 */

import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { logger } from '../lib/log.ts';
import type { Topics } from '../protocol/index.ts';
import { canPublish, canSubscribe, clientIdAllowed } from './auth/acl.ts';
import type { CredentialStore, Identity } from './auth/credentials.ts';
import type { Bus } from './bus.ts';

export interface BrokerOptions {
  host: string;
  mqttPort: number;
  wsPort: number;
  topics: Topics;
  credentials: CredentialStore;
  bus: Bus;
}

type Handler = (topic: string, payload: Buffer) => void;

const identities = new WeakMap<Client, Identity>();

export function identityOf(client: Client | null): Identity | undefined {
  return client ? identities.get(client) : undefined;
}

export class Broker {
  private aedes: Aedes | null = null;
  private tcp: NetServer | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;
  private readonly log = logger('broker');
  ports = { mqtt: 0, ws: 0 };

  constructor(private readonly opts: BrokerOptions) {}

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    const { topics, credentials } = this.opts;
    const log = this.log;
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 128,
      // A client that stops reading must not stall delivery to the others for long.
      drainTimeout: 10_000,
      authenticate: (client, username, password, done) => {
        const fail = (code: 4 | 5, why: string) => {
          log.warn({ clientId: client.id, username, why }, 'connection refused');
          const err = Object.assign(new Error(why), { returnCode: code });
          done(err, false);
        };
        if (!username || !password) return fail(4, 'missing credentials');
        credentials.verify(username, password.toString('utf8')).then(
          (identity) => {
            if (!identity) return fail(4, 'bad username or password');
            if (!clientIdAllowed(identity, client.id))
              return fail(5, `clientId '${client.id}' does not belong to '${username}'`);
            identities.set(client, identity);
            done(null, true);
          },
          (err: Error) => fail(5, `authentication error: ${err.message}`),
        );
      },
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null);
        const identity = identities.get(client);
        const access = identity
          ? canPublish(identity, packet.topic, packet.retain, topics)
          : { ok: false as const, reason: 'unauthenticated' };
        if (access.ok) return done(null);
        log.warn({ clientId: client.id, topic: packet.topic, reason: access.reason }, 'publish refused');
        done(new Error(access.reason));
      },
      authorizeSubscribe: (client, sub, done) => {
        const identity = identities.get(client);
        const access = identity
          ? canSubscribe(identity, sub.topic, topics)
          : { ok: false as const, reason: 'unauthenticated' };
        if (access.ok) return done(null, sub);
        log.warn({ clientId: client.id, topic: sub.topic, reason: access.reason }, 'subscribe refused');
        done(null, null);
      },
    });
    aedes.on('clientError', (client, err) =>
      log.debug({ clientId: client.id, err: err.message }, 'client error'),
    );
    aedes.on('connectionError', (client, err) =>
      log.debug({ clientId: client.id, err: err.message }, 'connection error'),
    );
    aedes.on('subscribe', (subs, client) => {
      if (client) this.opts.bus.emit('subscribed', { clientId: client.id, topics: subs.map((s) => s.topic) });
    });
    this.aedes = aedes;

    this.tcp = createNetServer({ noDelay: true }, aedes.handle);
    this.ports.mqtt = await listen(this.tcp, this.opts.mqttPort, this.opts.host);

    this.http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
    });
    this.wss = new WebSocketServer({ server: this.http, path: '/mqtt' });
    this.wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => undefined);
      aedes.handle(stream, req);
    });
    this.ports.ws = await listen(this.http, this.opts.wsPort, this.opts.host);
    log.info({ ports: this.ports }, 'broker listening');
  }

  async stop(): Promise<void> {
    const aedes = this.aedes;
    this.aedes = null;
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.wss?.close();
    // Stop accepting first, then close every client (which lets the servers finish closing).
    const closing = Promise.all([closeServer(this.tcp), closeServer(this.http)]);
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closing;
    this.tcp = null;
    this.http = null;
    this.wss = null;
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
            this.log.error({ err: (err as Error).message, topic: packet.topic }, 'handler failed');
          }
          cb();
        },
        resolve,
      ),
    );
  }
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer | HttpServer | null): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}
