/** The limits' pure parts, with an injected clock: token bucket, auth backoff, packet size guard. */
import { describe, expect, it } from 'vitest';
import {
  AuthBackoff,
  DEFAULT_AUTH_BACKOFF,
  DROP_TOPIC,
  dropPublish,
  limitPacketSize,
  maxPacketBytes,
  type PacketParser,
  TokenBucket,
} from '../../gateway/limits.ts';

function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('TokenBucket', () => {
  it('lets a burst through, then the rate', () => {
    const c = clock();
    const b = new TokenBucket(10, 20, c.now);
    let passed = 0;
    for (let i = 0; i < 50; i++) if (b.take()) passed++;
    expect(passed).toBe(20);
    c.t += 500; // half a second: 5 more
    passed = 0;
    for (let i = 0; i < 50; i++) if (b.take()) passed++;
    expect(passed).toBe(5);
    c.t += 60_000; // saved up to the burst, not beyond
    passed = 0;
    for (let i = 0; i < 50; i++) if (b.take()) passed++;
    expect(passed).toBe(20);
  });

  it('a rate of 0 never limits', () => {
    const b = new TokenBucket(0, 1, clock().now);
    for (let i = 0; i < 1000; i++) expect(b.take()).toBe(true);
  });
});

describe('AuthBackoff', () => {
  const opts = {
    ...DEFAULT_AUTH_BACKOFF,
    usernameFailures: 3,
    addressUsernames: 4,
    baseMs: 1000,
    maxMs: 8000,
  };

  it('a username backs off after its free failures, doubling up to the cap', () => {
    const c = clock(1_000_000);
    const b = new AuthBackoff(opts, c.now);
    b.failed('u', 'a1');
    b.failed('u', 'a1');
    expect(b.blockedFor('u', 'a1')).toBe(0);
    b.failed('u', 'a1');
    expect(b.blockedFor('u', 'a1')).toBe(1000);
    // From another address too: it is the username that is guessed.
    expect(b.blockedFor('u', 'a2')).toBe(1000);
    c.t += 1000;
    expect(b.blockedFor('u', 'a1')).toBe(0);
    b.failed('u', 'a1');
    expect(b.blockedFor('u', 'a1')).toBe(2000);
    for (let i = 0; i < 10; i++) b.failed('u', 'a1');
    expect(b.blockedFor('u', 'a1')).toBe(8000);
    expect(b.blockedFor('other', 'a3')).toBe(0);
    b.succeeded('u');
    expect(b.blockedFor('u', 'a3')).toBe(0);
  });

  it('an address backs off after failing with many distinct usernames, not with one', () => {
    const c = clock(1_000_000);
    const b = new AuthBackoff({ ...opts, usernameFailures: 1000 }, c.now);
    for (let i = 0; i < 50; i++) b.failed('same', 'a1');
    expect(b.blockedFor('someone-else', 'a1')).toBe(0);
    for (const u of ['x1', 'x2', 'x3']) b.failed(u, 'a1');
    expect(b.blockedFor('someone-else', 'a1')).toBeGreaterThan(0);
    expect(b.blockedFor('someone-else', 'a2')).toBe(0);
  });

  it('forgets quiet keys, and remembers at most maxEntries', () => {
    const c = clock(1_000_000);
    const b = new AuthBackoff({ ...opts, maxEntries: 100, forgetMs: 10_000 }, c.now);
    for (let i = 0; i < 10_000; i++) b.failed(`user${i}`, `addr${i % 500}`);
    expect(b.size).toBeLessThanOrEqual(200);
    c.t += 60_000;
    expect(b.blockedFor('user9999', 'addr499')).toBe(0);
  });
});

describe('limitPacketSize', () => {
  function parser(length: number): PacketParser & { errors: Error[] } {
    const p = {
      packet: { length: -1, cmd: 'publish' },
      errors: [] as Error[],
      _parseLength(this: PacketParser) {
        this.packet.length = length;
        return true;
      },
      _emitError(err: Error) {
        p.errors.push(err);
      },
    };
    return p;
  }

  it('refuses a packet announcing more than the limit, as soon as the length is known', () => {
    const p = parser(1_000_000);
    const seen: number[] = [];
    limitPacketSize(p, 1000, (n) => seen.push(n));
    expect(p._parseLength()).toBe(false);
    expect(seen).toEqual([1_000_000]);
    expect(p.errors[0]!.message).toMatch(/exceeds the limit of 1000/);
  });

  it('lets a packet within the limit through', () => {
    const p = parser(1000);
    limitPacketSize(p, 1000, () => expect.unreachable());
    expect(p._parseLength()).toBe(true);
    expect(p.errors).toEqual([]);
  });

  it('the packet limit leaves room for the topic beyond the payload limit', () => {
    expect(maxPacketBytes({ maxPublishBytes: 1024 })).toBeGreaterThan(1024 + 200);
  });
});

describe('dropPublish', () => {
  it('re-routes a message nowhere, unretained and empty', () => {
    const packet = { topic: 'stockgate/terminals/t1/state', retain: true, payload: Buffer.from('x') };
    dropPublish(packet);
    expect(packet).toEqual({ topic: DROP_TOPIC, retain: false, payload: Buffer.alloc(0) });
  });
});
