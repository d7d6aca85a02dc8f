import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ClientTopicKind,
  DEFAULT_BASE_TOPIC,
  faultTargetPath,
  type ParsedTopic,
  type TerminalTopicKind,
  Topics,
} from '../../protocol/topics.ts';

const CLIENT_KINDS: ClientTopicKind[] = ['place', 'cancel', 'query', 'status', 'errors'];
const TERMINAL_KINDS: TerminalTopicKind[] = ['state', 'inventory', 'cmd', 'reply', 'events', 'inquiry'];

describe('Topics builders (default base)', () => {
  const t = new Topics();

  it('uses the stockgate base by default', () => {
    expect(DEFAULT_BASE_TOPIC).toBe('stockgate');
    expect(t.base).toBe('stockgate');
  });

  it.each([
    ['place', 'stockgate/clients/c1/orders/place'],
    ['cancel', 'stockgate/clients/c1/orders/cancel'],
    ['query', 'stockgate/clients/c1/orders/query'],
    ['status', 'stockgate/clients/c1/orders/status'],
    ['errors', 'stockgate/clients/c1/errors'],
  ] as [ClientTopicKind, string][])('client %s', (kind, topic) => {
    expect(t.client('c1', kind)).toBe(topic);
    expect(t.parse(topic)).toEqual({ family: 'client', kind, cid: 'c1' });
  });

  it.each(TERMINAL_KINDS)('terminal %s', (kind) => {
    const topic = `stockgate/terminals/t-7/${kind}`;
    expect(t.terminal('t-7', kind)).toBe(topic);
    expect(t.parse(topic)).toEqual({ family: 'terminal', kind, tid: 't-7' });
  });

  it('wildcard filters across terminals and clients', () => {
    expect(t.allTerminals('reply')).toBe('stockgate/terminals/+/reply');
    expect(t.allClients('place')).toBe('stockgate/clients/+/orders/place');
    expect(t.allClients('errors')).toBe('stockgate/clients/+/errors');
  });

  it('stats', () => {
    expect(t.statsSummary()).toBe('stockgate/stats/summary');
    expect(t.parse('stockgate/stats/summary')).toEqual({ family: 'stats', kind: 'summary' });
    expect(t.statsTerminal('t1')).toBe('stockgate/stats/terminals/t1');
    expect(t.parse('stockgate/stats/terminals/t1')).toEqual({ family: 'stats', kind: 'terminal', tid: 't1' });
  });

  it('faults', () => {
    expect(t.fault({ kind: 'gateway' })).toBe('stockgate/faults/gateway');
    expect(t.fault({ kind: 'terminal', tid: 't1' })).toBe('stockgate/faults/terminals/t1');
    expect(t.fault({ kind: 'link', tid: 't1' })).toBe('stockgate/faults/links/t1');
    expect(t.faultsActive()).toBe('stockgate/faults/active');
    expect(t.parse('stockgate/faults/gateway')).toEqual({
      family: 'fault',
      kind: 'command',
      target: { kind: 'gateway' },
    });
    expect(t.parse('stockgate/faults/terminals/t1')).toEqual({
      family: 'fault',
      kind: 'command',
      target: { kind: 'terminal', tid: 't1' },
    });
    expect(t.parse('stockgate/faults/links/t1')).toEqual({
      family: 'fault',
      kind: 'command',
      target: { kind: 'link', tid: 't1' },
    });
    expect(t.parse('stockgate/faults/active')).toEqual({ family: 'fault', kind: 'active' });
  });

  it('faultTargetPath', () => {
    expect(faultTargetPath({ kind: 'gateway' })).toBe('gateway');
    expect(faultTargetPath({ kind: 'terminal', tid: 'x' })).toBe('terminals/x');
    expect(faultTargetPath({ kind: 'link', tid: 'x' })).toBe('links/x');
  });
});

describe('Topics.parse refuses', () => {
  const t = new Topics();
  it.each([
    // wildcards
    'stockgate/clients/+/orders/place',
    'stockgate/clients/#',
    'stockgate/terminals/+/state',
    'stockgate/terminals/t1/#',
    'stockgate/stats/terminals/+',
    'stockgate/faults/links/+',
    'stockgate/#',
    // extra levels
    'stockgate/clients/c1/orders/place/x',
    'stockgate/clients/c1/errors/x',
    'stockgate/terminals/t1/state/x',
    'stockgate/stats/summary/x',
    'stockgate/stats/terminals/t1/x',
    'stockgate/faults/gateway/x',
    'stockgate/faults/active/x',
    'stockgate/faults/terminals/t1/x',
    // missing levels
    'stockgate',
    'stockgate/',
    'stockgate/clients',
    'stockgate/clients/c1',
    'stockgate/clients/c1/orders',
    'stockgate/terminals/t1',
    'stockgate/stats',
    'stockgate/stats/terminals',
    'stockgate/faults',
    'stockgate/faults/terminals',
    // unknown kinds or families
    'stockgate/clients/c1/orders/ship',
    'stockgate/clients/c1/status',
    'stockgate/terminals/t1/orders',
    'stockgate/terminals/t1/Cmd',
    'stockgate/stats/other',
    'stockgate/faults/clients/c1',
    'stockgate/other/x',
    // bad ids
    'stockgate/clients/c.1/orders/place',
    'stockgate/clients//orders/place',
    `stockgate/clients/${'c'.repeat(65)}/orders/place`,
    'stockgate/terminals/t 1/state',
    'stockgate/terminals/t:1/state',
    'stockgate/stats/terminals/t.1',
    'stockgate/faults/terminals/t$',
    // other bases
    'other/clients/c1/orders/place',
    'stockgatex/clients/c1/orders/place',
    'Stockgate/clients/c1/orders/place',
    '/stockgate/clients/c1/orders/place',
    'clients/c1/orders/place',
    '',
  ])('%j', (topic) => {
    expect(t.parse(topic)).toBeNull();
  });

  it('accepts ids of exactly 64 characters', () => {
    const id = 'a'.repeat(64);
    expect(t.parse(t.terminal(id, 'cmd'))).toEqual({ family: 'terminal', kind: 'cmd', tid: id });
  });
});

describe('custom base topic', () => {
  const t = new Topics('site-1/edge_gw');

  it('builds and parses under the custom base', () => {
    expect(t.base).toBe('site-1/edge_gw');
    expect(t.client('c1', 'place')).toBe('site-1/edge_gw/clients/c1/orders/place');
    expect(t.parse('site-1/edge_gw/clients/c1/orders/place')).toEqual({
      family: 'client',
      kind: 'place',
      cid: 'c1',
    });
    expect(t.parse('site-1/edge_gw/faults/links/t2')).toEqual({
      family: 'fault',
      kind: 'command',
      target: { kind: 'link', tid: 't2' },
    });
  });

  it('refuses the default base and partial bases', () => {
    expect(t.parse('stockgate/clients/c1/orders/place')).toBeNull();
    expect(t.parse('site-1/clients/c1/orders/place')).toBeNull();
    expect(new Topics().parse('site-1/edge_gw/clients/c1/orders/place')).toBeNull();
  });

  it.each(['', '/stockgate', 'stockgate/', 'stock gate', 'stock+gate', 'stock#', 'a'.repeat(65), 'ü'])(
    'invalid base %j throws',
    (base) => {
      expect(() => new Topics(base)).toThrow(/invalid base topic/);
    },
  );
});

describe('round trip (property)', () => {
  const idChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'.split('');
  const id = fc.string({ unit: fc.constantFrom(...idChars), minLength: 1, maxLength: 64 });
  const base = fc.constantFrom('stockgate', 'a', 'x/y', 'site-1/gw_2');

  it('every built topic parses back to what built it', () => {
    const seed = Number(process.env.SEED ?? 42);
    console.log('seed', seed);
    type Case = { topic: (t: Topics) => string; parsed: ParsedTopic };
    const kase: fc.Arbitrary<Case> = fc.oneof(
      fc.tuple(id, fc.constantFrom(...CLIENT_KINDS)).map(([cid, kind]) => ({
        topic: (t: Topics) => t.client(cid, kind),
        parsed: { family: 'client', kind, cid } as ParsedTopic,
      })),
      fc.tuple(id, fc.constantFrom(...TERMINAL_KINDS)).map(([tid, kind]) => ({
        topic: (t: Topics) => t.terminal(tid, kind),
        parsed: { family: 'terminal', kind, tid } as ParsedTopic,
      })),
      id.map((tid) => ({
        topic: (t: Topics) => t.statsTerminal(tid),
        parsed: { family: 'stats', kind: 'terminal', tid } as ParsedTopic,
      })),
      fc.tuple(id, fc.constantFrom('terminal' as const, 'link' as const)).map(([tid, kind]) => ({
        topic: (t: Topics) => t.fault({ kind, tid }),
        parsed: { family: 'fault', kind: 'command', target: { kind, tid } } as ParsedTopic,
      })),
      fc.constant({
        topic: (t: Topics) => t.statsSummary(),
        parsed: { family: 'stats', kind: 'summary' } as ParsedTopic,
      }),
      fc.constant({
        topic: (t: Topics) => t.faultsActive(),
        parsed: { family: 'fault', kind: 'active' } as ParsedTopic,
      }),
      fc.constant({
        topic: (t: Topics) => t.fault({ kind: 'gateway' }),
        parsed: { family: 'fault', kind: 'command', target: { kind: 'gateway' } } as ParsedTopic,
      }),
    );
    fc.assert(
      fc.property(base, kase, (b, c) => {
        const t = new Topics(b);
        const topic = c.topic(t);
        expect(topic.startsWith(`${b}/`)).toBe(true);
        expect(t.parse(topic)).toEqual(c.parsed);
        // one more level never parses
        expect(t.parse(`${topic}/x`)).toBeNull();
      }),
      { seed, numRuns: 300 },
    );
  });

  it('ids outside the pattern never parse (property)', () => {
    const seed = Number(process.env.SEED ?? 42);
    console.log('seed', seed);
    const badChar = fc.constantFrom('.', ':', ' ', '+', '#', '$', 'é', '*');
    const badId = fc
      .tuple(
        fc.string({ unit: fc.constantFrom(...idChars), maxLength: 10 }),
        badChar,
        fc.string({ unit: fc.constantFrom(...idChars), maxLength: 10 }),
      )
      .map(([a, c, b]) => `${a}${c}${b}`);
    const t = new Topics();
    fc.assert(
      fc.property(
        badId,
        fc.constantFrom(...TERMINAL_KINDS),
        fc.constantFrom(...CLIENT_KINDS),
        (bid, tk, ck) => {
          expect(t.parse(t.terminal(bid, tk))).toBeNull();
          expect(t.parse(t.client(bid, ck))).toBeNull();
          expect(t.parse(t.statsTerminal(bid))).toBeNull();
          expect(t.parse(t.fault({ kind: 'link', tid: bid }))).toBeNull();
        },
      ),
      { seed, numRuns: 300 },
    );
  });
});
