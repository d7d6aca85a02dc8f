/**
 * The broker's limits, as small pure parts the hooks in broker.ts use: a token bucket per
 * connection (publish and subscribe rate), the backoff after failed authentications, and the packet
 * size guard on aedes' MQTT parser. Each limit refuses with a clear answer and a log line; the
 * decisions live here, the wiring in broker.ts.
 */
import type { Role } from './auth/credentials.ts';

/** What may leave a packet beyond its payload (topic, packet id, CONNECT fields), in bytes. */
export const PACKET_OVERHEAD_BYTES = 4096;

export interface AuthBackoffOptions {
  /** Failed logins of one username allowed before it backs off. */
  usernameFailures: number;
  /** Distinct usernames that may fail from one remote address before the address backs off. */
  addressUsernames: number;
  /** First backoff; it doubles with each further failure. */
  baseMs: number;
  /** Longest backoff. */
  maxMs: number;
  /** A key quiet for this long is forgotten. */
  forgetMs: number;
  /** Most usernames and addresses remembered (oldest forgotten first): memory stays bounded. */
  maxEntries: number;
}

export const DEFAULT_AUTH_BACKOFF: AuthBackoffOptions = {
  usernameFailures: 5,
  addressUsernames: 20,
  baseMs: 1000,
  maxMs: 30_000,
  forgetMs: 10 * 60_000,
  maxEntries: 10_000,
};

export interface BrokerLimits {
  /** Largest PUBLISH payload (and will payload) on any topic, in bytes. */
  maxPublishBytes: number;
  /** Most concurrent connections (all transports); more get CONNACK 3 (server unavailable). */
  maxConnections: number;
  /** Publishes (and subscribes) per second per connection, by role; burst is twice this. 0: no limit. */
  publishRate: Record<Role, number>;
  authBackoff: AuthBackoffOptions;
  /** How long a new connection may take to send CONNECT. */
  connectTimeoutMs: number;
  /** How long a subscriber may leave its socket full before it is disconnected. */
  drainTimeoutMs: number;
}

export const DEFAULT_PUBLISH_RATE: Record<Role, number> = { client: 500, terminal: 5000, operator: 50 };

export const DEFAULT_LIMITS: BrokerLimits = {
  maxPublishBytes: 256 * 1024,
  maxConnections: 1000,
  publishRate: DEFAULT_PUBLISH_RATE,
  authBackoff: DEFAULT_AUTH_BACKOFF,
  connectTimeoutMs: 10_000,
  drainTimeoutMs: 10_000,
};

/** The largest MQTT packet (remaining length) the parser will buffer. */
export function maxPacketBytes(limits: Pick<BrokerLimits, 'maxPublishBytes'>): number {
  return limits.maxPublishBytes + PACKET_OVERHEAD_BYTES;
}

/** Burst allowance as a multiple of the rate. */
export const BURST_FACTOR = 2;
/** Over-rate messages in a row (as a multiple of the burst) after which a connection is closed. */
export const FLOOD_FACTOR = 10;

export type Clock = () => number;
const monotonic: Clock = () => performance.now();

/** A token bucket: `rate` tokens a second, at most `burst` saved up. A rate of 0 never limits. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number = Math.max(1, rate * BURST_FACTOR),
    private readonly now: Clock = monotonic,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    if (this.rate <= 0) return true;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface UserEntry {
  failures: number;
  until: number;
  last: number;
}
interface AddressEntry {
  names: Set<string>;
  distinct: number;
  until: number;
  last: number;
}

/**
 * Backoff after failed authentications, per username (guessing one password) and per remote
 * address (trying many usernames). While a key backs off its attempts are refused without checking
 * the password (no scrypt work), and those refusals do not lengthen the backoff. A success clears
 * the username's failures. A reconnect loop with one stale password backs off only that username,
 * not every other identity behind the same address.
 */
export class AuthBackoff {
  private readonly users = new Map<string, UserEntry>();
  private readonly addresses = new Map<string, AddressEntry>();

  constructor(
    private readonly opts: AuthBackoffOptions = DEFAULT_AUTH_BACKOFF,
    private readonly now: Clock = Date.now,
  ) {}

  /** Milliseconds until `username` from `address` may try again; 0 if it may now. */
  blockedFor(username: string, address: string): number {
    const now = this.now();
    const u = this.fresh(this.users, `u:${username}`, now);
    const a = this.fresh(this.addresses, address, now);
    return Math.max(0, (u?.until ?? 0) - now, (a?.until ?? 0) - now);
  }

  failed(username: string, address: string): void {
    const now = this.now();
    const o = this.opts;
    const ukey = `u:${username}`;
    const u = this.fresh(this.users, ukey, now) ?? { failures: 0, until: 0, last: now };
    u.failures++;
    u.last = now;
    if (u.failures >= o.usernameFailures) u.until = now + this.delay(u.failures - o.usernameFailures);
    this.put(this.users, ukey, u);

    const a = this.fresh(this.addresses, address, now) ?? {
      names: new Set(),
      distinct: 0,
      until: 0,
      last: now,
    };
    if (!a.names.has(username)) {
      a.distinct++;
      // Bounded: past the cap every name counts as new, which only errs towards backing off.
      if (a.names.size < Math.max(64, o.addressUsernames * 2)) a.names.add(username);
    }
    a.last = now;
    if (a.distinct >= o.addressUsernames) a.until = now + this.delay(a.distinct - o.addressUsernames);
    this.put(this.addresses, address, a);
  }

  succeeded(username: string): void {
    this.users.delete(`u:${username}`);
  }

  /** How many keys are remembered (for tests: memory stays bounded). */
  get size(): number {
    return this.users.size + this.addresses.size;
  }

  private delay(excess: number): number {
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(excess, 30));
  }

  private fresh<T extends { last: number; until: number }>(
    map: Map<string, T>,
    key: string,
    now: number,
  ): T | undefined {
    const e = map.get(key);
    if (e && now - Math.max(e.last, e.until) > this.opts.forgetMs) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  private put<T>(map: Map<string, T>, key: string, value: T): void {
    // Re-insert so iteration order is least recently failed first, then evict from the front.
    map.delete(key);
    map.set(key, value);
    while (map.size > this.opts.maxEntries) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
    }
  }
}

/** The part of mqtt-packet's parser (inside aedes' client) the size guard touches. */
export interface PacketParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * aedes buffers a whole packet before it looks at it, and mqtt-packet's parser takes any remaining
 * length up to 256 MiB: one header can make the broker hold that much per connection. This guard
 * wraps the parser of one connection so that a packet announcing more than `max` bytes is refused
 * as soon as its length is read, before its body is buffered. The parser's error closes the
 * connection (aedes: client error, socket destroyed). Relies on mqtt-packet 9's parser states.
 */
export function limitPacketSize(
  parser: PacketParser,
  max: number,
  onTooLarge: (length: number, cmd: string | undefined) => void,
): void {
  const parseLength = parser._parseLength;
  if (typeof parseLength !== 'function') throw new Error('mqtt-packet parser has no _parseLength');
  parser._parseLength = function guarded(this: PacketParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > max) {
      onTooLarge(this.packet.length, this.packet.cmd);
      this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds the limit of ${max}`));
      return false;
    }
    return done;
  };
}

/**
 * MQTT 3.1.1 has no negative PUBACK, and aedes closes the connection on any authorizePublish error.
 * To refuse one message but keep the connection (rate limit, oversized payload) the hook re-routes
 * it here: a topic outside the contract that no identity may subscribe to, never retained, empty.
 */
export const DROP_TOPIC = '$stockgate/dropped';

export function dropPublish(packet: { topic: string; retain: boolean; payload: Buffer | string }): void {
  packet.topic = DROP_TOPIC;
  packet.retain = false;
  packet.payload = Buffer.alloc(0);
}
