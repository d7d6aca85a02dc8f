import { describe, expect, it } from 'vitest';
import {
  CancelOrder,
  ClientError,
  Command,
  FaultsActive,
  GatewayFault,
  guessRef,
  Inquiry,
  Inventory,
  LinkFault,
  MAX_LINES,
  MAX_QTY,
  OrderStatus,
  PlaceOrder,
  parsePayload,
  QueryOrder,
  Reply,
  StatsSummary,
  StatsTerminal,
  TerminalEvent,
  TerminalFault,
  TerminalState,
} from '../../protocol/schemas.ts';

const ok = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success, JSON.stringify(value)).toBe(true);
const bad = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success, JSON.stringify(value)).toBe(false);

describe('PlaceOrder', () => {
  it.each([
    { orderId: 'o1', lines: [{ sku: 'A', qty: 1 }] },
    { orderId: 'c001:42.x_y-z', lines: [{ sku: 'sku.1_a-B', qty: MAX_QTY }] },
    { orderId: 'x'.repeat(128), lines: [{ sku: 'S'.repeat(64), qty: 3 }] },
    { orderId: 'o', lines: Array.from({ length: MAX_LINES }, (_, i) => ({ sku: `s${i}`, qty: 1 })) },
  ])('accepts %#', (value) => {
    const r = PlaceOrder.safeParse(value);
    expect(r.success).toBe(true);
    if (r.success) expect(r.data).toEqual(value);
  });

  const line = (l: unknown) => ({ orderId: 'o1', lines: [l] });
  it.each([
    ['qty 0', line({ sku: 'A', qty: 0 })],
    ['negative qty', line({ sku: 'A', qty: -1 })],
    ['fractional qty', line({ sku: 'A', qty: 1.5 })],
    ['qty > MAX_QTY', line({ sku: 'A', qty: MAX_QTY + 1 })],
    ['qty as string', line({ sku: 'A', qty: '1' })],
    ['qty NaN-ish null', line({ sku: 'A', qty: null })],
    ['sku with a space', line({ sku: 'A B', qty: 1 })],
    ['sku with a slash', line({ sku: 'A/B', qty: 1 })],
    ['sku with a wildcard', line({ sku: 'A+', qty: 1 })],
    ['sku with a colon', line({ sku: 'A:B', qty: 1 })],
    ['empty sku', line({ sku: '', qty: 1 })],
    ['sku too long', line({ sku: 'S'.repeat(65), qty: 1 })],
    ['extra key in line', line({ sku: 'A', qty: 1, price: 3 })],
    ['missing qty', line({ sku: 'A' })],
    [
      'duplicate skus',
      {
        orderId: 'o1',
        lines: [
          { sku: 'A', qty: 1 },
          { sku: 'A', qty: 2 },
        ],
      },
    ],
    ['extra key at root', { orderId: 'o1', lines: [{ sku: 'A', qty: 1 }], note: 'x' }],
    ['empty lines', { orderId: 'o1', lines: [] }],
    [
      'too many lines',
      { orderId: 'o1', lines: Array.from({ length: MAX_LINES + 1 }, (_, i) => ({ sku: `s${i}`, qty: 1 })) },
    ],
    ['missing lines', { orderId: 'o1' }],
    ['lines not an array', { orderId: 'o1', lines: { sku: 'A', qty: 1 } }],
    ['empty orderId', { orderId: '', lines: [{ sku: 'A', qty: 1 }] }],
    ['orderId too long', { orderId: 'x'.repeat(129), lines: [{ sku: 'A', qty: 1 }] }],
    ['orderId with a slash', { orderId: 'a/b', lines: [{ sku: 'A', qty: 1 }] }],
    ['orderId a number', { orderId: 7, lines: [{ sku: 'A', qty: 1 }] }],
    ['not an object', [{ sku: 'A', qty: 1 }]],
    ['null', null],
  ])('refuses %s', (_name, value) => bad(PlaceOrder, value));

  it('names the duplicate-sku rule in its message', () => {
    const r = parsePayload(
      PlaceOrder,
      JSON.stringify({
        orderId: 'o',
        lines: [
          { sku: 'A', qty: 1 },
          { sku: 'A', qty: 1 },
        ],
      }),
    );
    expect(r).toMatchObject({ ok: false, code: 'invalid_payload' });
    if (!r.ok) expect(r.message).toContain('each sku may appear in only one line');
  });
});

describe('CancelOrder / QueryOrder', () => {
  it.each([CancelOrder, QueryOrder])('accepts {orderId} and refuses extras or bad ids (%#)', (schema) => {
    ok(schema, { orderId: 'o-1' });
    bad(schema, { orderId: 'o-1', lines: [] });
    bad(schema, { orderId: '' });
    bad(schema, {});
  });
});

describe('OrderStatus / ClientError', () => {
  it('accepts statuses of every state and refuses unknown states', () => {
    for (const state of ['accepted', 'confirmed', 'fulfilled', 'rejected', 'failed', 'cancelled']) {
      ok(OrderStatus, { orderId: 'o', state, at: 1 });
    }
    ok(OrderStatus, {
      orderId: 'o',
      state: 'confirmed',
      at: 1,
      allocation: [{ terminal: 't1', sku: 'A', qty: 2 }],
    });
    bad(OrderStatus, { orderId: 'o', state: 'shipped', at: 1 });
    bad(OrderStatus, {
      orderId: 'o',
      state: 'confirmed',
      at: 1,
      allocation: [{ terminal: 't/1', sku: 'A', qty: 2 }],
    });
    bad(OrderStatus, { orderId: 'o', state: 'confirmed' });
  });

  it('ClientError needs a known code', () => {
    ok(ClientError, { code: 'malformed_json', message: 'x' });
    ok(ClientError, { ref: 'o1', code: 'forbidden', message: 'x' });
    bad(ClientError, { code: 'oops', message: 'x' });
    bad(ClientError, { code: 'internal' });
  });
});

describe('Command', () => {
  const lines = [{ sku: 'A', qty: 2 }];
  it('prepare needs lines', () => {
    ok(Command, { id: '1', op: 'prepare', tx: 'tx1', lines });
    ok(Command, { id: '1', op: 'prepare', tx: 'tx1', lines, ttlMs: 5000 });
    const r = Command.safeParse({ id: '1', op: 'prepare', tx: 'tx1' });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.message)).toContain('prepare needs lines');
  });

  it.each(['commit', 'abort', 'release'])('%s does not need lines', (op) => {
    ok(Command, { id: '1', op, tx: 'tx1' });
  });

  it.each([
    { id: '1', op: 'pick', tx: 'tx1' },
    { id: '', op: 'commit', tx: 'tx1' },
    { id: '1', op: 'commit', tx: '' },
    { id: '1', op: 'commit', tx: 'a b' },
    { id: '1', op: 'prepare', tx: 'tx1', lines: [] },
    { id: '1', op: 'prepare', tx: 'tx1', lines: [{ sku: 'A', qty: 0 }] },
    { id: '1', op: 'prepare', tx: 'tx1', lines, ttlMs: 0 },
    { id: '1', op: 'prepare', tx: 'tx1', lines, ttlMs: 3_600_001 },
    { id: '1', op: 'prepare', tx: 'tx1', lines, ttlMs: 1.5 },
  ])('refuses %j', (value) => bad(Command, value));
});

describe('Reply', () => {
  it('accepts replies with and without code and seq', () => {
    ok(Reply, { id: '1', tx: 't', op: 'prepare', ok: true });
    ok(Reply, { id: '1', tx: 't', op: 'prepare', ok: false, code: 'insufficient' });
    ok(Reply, { id: '1', tx: 't', op: 'release', ok: true, code: 'picked', seq: 0 });
  });
  it('refuses unknown codes, ops, negative seq and a non-boolean ok', () => {
    bad(Reply, { id: '1', tx: 't', op: 'prepare', ok: false, code: 'nope' });
    bad(Reply, { id: '1', tx: 't', op: 'pick', ok: true });
    bad(Reply, { id: '1', tx: 't', op: 'commit', ok: true, seq: -1 });
    bad(Reply, { id: '1', tx: 't', op: 'commit', ok: 'yes' });
  });
});

describe('Inventory', () => {
  it('accepts an inventory and refuses negative or fractional counts and bad skus', () => {
    ok(Inventory, { seq: 0, items: {} });
    ok(Inventory, { seq: 3, items: { A: { onHand: 5, reserved: 1, committed: 2 } } });
    bad(Inventory, { seq: -1, items: {} });
    bad(Inventory, { seq: 1, items: { A: { onHand: -1, reserved: 0, committed: 0 } } });
    bad(Inventory, { seq: 1, items: { A: { onHand: 1.5, reserved: 0, committed: 0 } } });
    bad(Inventory, { seq: 1, items: { A: { onHand: 1, reserved: 0 } } });
    bad(Inventory, { seq: 1, items: { 'A B': { onHand: 1, reserved: 0, committed: 0 } } });
    bad(Inventory, { items: {} });
  });
});

describe('TerminalState', () => {
  it('accepts online and offline', () => {
    ok(TerminalState, {
      state: 'online',
      board: 'virtual',
      firmware: 'StandardFirmata 2.5',
      skus: ['A', 'B'],
    });
    ok(TerminalState, { state: 'offline' });
  });
  it.each([
    { state: 'online' },
    { state: 'online', board: '', firmware: 'x', skus: [] },
    { state: 'online', board: 'b', firmware: 'x', skus: ['bad sku'] },
    { state: 'sleeping' },
    {},
  ])('refuses %j', (value) => bad(TerminalState, value));
});

describe('TerminalEvent / Inquiry', () => {
  it('accepts every kind', () => {
    ok(TerminalEvent, { seq: 1, kind: 'restock', sku: 'A', qty: 5 });
    ok(TerminalEvent, { seq: 2, kind: 'count', sku: 'A', qty: 0 });
    ok(TerminalEvent, { seq: 3, kind: 'picked', tx: 'tx-1' });
  });
  it('refuses unknown kinds, negative and oversized qty', () => {
    bad(TerminalEvent, { seq: 1, kind: 'stolen', sku: 'A', qty: 5 });
    bad(TerminalEvent, { seq: 1, kind: 'restock', sku: 'A', qty: -5 });
    bad(TerminalEvent, { seq: 1, kind: 'restock', sku: 'A', qty: MAX_QTY + 1 });
    bad(TerminalEvent, { kind: 'restock', sku: 'A', qty: 1 });
  });
  it('Inquiry needs a tx', () => {
    ok(Inquiry, { tx: 'tx1' });
    bad(Inquiry, {});
  });
});

describe('fault schemas', () => {
  it.each([
    { kind: 'crash' },
    { kind: 'crash', durationMs: 1000 },
    { kind: 'freeze', durationMs: 5 },
    { kind: 'slow', ms: 200 },
    { kind: 'stale' },
    { kind: 'heal' },
  ])('TerminalFault accepts %j', (value) => ok(TerminalFault, value));

  it.each([
    { kind: 'slow' },
    { kind: 'slow', ms: 0 },
    { kind: 'slow', ms: 60_001 },
    { kind: 'crash', pct: 5 },
    { kind: 'crash', durationMs: 0 },
    { kind: 'crash', durationMs: 86_400_001 },
    { kind: 'heal', durationMs: 10 },
    { kind: 'drop', pct: 5 },
    { kind: 'explode' },
  ])('TerminalFault refuses %j', (value) => bad(TerminalFault, value));

  it.each([
    { kind: 'drop', pct: 0 },
    { kind: 'drop', pct: 100, durationMs: 10 },
    { kind: 'duplicate', pct: 12.5 },
    { kind: 'delay', ms: 0 },
    { kind: 'delay', ms: 100, jitterMs: 50 },
    { kind: 'reorder' },
    { kind: 'partition', durationMs: 2000 },
    { kind: 'heal' },
  ])('LinkFault accepts %j', (value) => ok(LinkFault, value));

  it.each([
    { kind: 'drop' },
    { kind: 'drop', pct: 101 },
    { kind: 'drop', pct: -1 },
    { kind: 'duplicate', pct: 5, extra: 1 },
    { kind: 'delay', ms: -1 },
    { kind: 'delay', ms: 10, jitterMs: 1.5 },
    { kind: 'partition', pct: 5 },
    { kind: 'heal', pct: 5 },
    { kind: 'crash' },
  ])('LinkFault refuses %j', (value) => bad(LinkFault, value));

  it('GatewayFault accepts crash and heal only, strictly', () => {
    ok(GatewayFault, { kind: 'crash' });
    ok(GatewayFault, { kind: 'crash', durationMs: 100 });
    ok(GatewayFault, { kind: 'heal' });
    bad(GatewayFault, { kind: 'crash', ms: 100 });
    bad(GatewayFault, { kind: 'freeze' });
    bad(GatewayFault, { kind: 'heal', durationMs: 100 });
  });

  it('FaultsActive', () => {
    ok(FaultsActive, {
      at: 1,
      faults: [{ target: 'links/t1', kind: 'drop', params: { pct: 5 }, since: 0, until: 10 }],
    });
    bad(FaultsActive, { at: 1, faults: [{ target: 'links/t1', kind: 'drop', since: 0 }] });
  });
});

describe('stats schemas', () => {
  const p = { p50: 1, p90: 2, p99: 3, max: 4, count: 5 };
  it('StatsSummary', () => {
    ok(StatsSummary, {
      at: 1,
      orders: { accepted: 1, confirmed: 0, fulfilled: 2, rejected: 0, failed: 0, cancelled: 0 },
      inFlight: 0,
      rates: { placed: 1.5 },
      latencyMs: { confirm: p },
      terminalsOnline: 1,
      terminalsKnown: 2,
    });
    bad(StatsSummary, {
      at: 1,
      orders: { accepted: 1, confirmed: 0, fulfilled: 2, rejected: 0, failed: 0, cancelled: 0, shipped: 1 },
      inFlight: 0,
      rates: {},
      latencyMs: {},
      terminalsOnline: 1,
      terminalsKnown: 2,
    });
  });
  it('StatsTerminal', () => {
    const base = {
      at: 1,
      online: true,
      breaker: 'closed',
      prepareOk: 1,
      prepareFail: 0,
      timeouts: 0,
      stock: {},
    };
    ok(StatsTerminal, base);
    ok(StatsTerminal, { ...base, breaker: 'half-open', rttMs: p });
    bad(StatsTerminal, { ...base, breaker: 'ajar' });
  });
});

describe('parsePayload', () => {
  it('returns the value for a valid Buffer or string', () => {
    const value = { orderId: 'o1', lines: [{ sku: 'A', qty: 2 }] };
    expect(parsePayload(PlaceOrder, JSON.stringify(value))).toEqual({ ok: true, value });
    expect(parsePayload(PlaceOrder, Buffer.from(JSON.stringify(value), 'utf8'))).toEqual({ ok: true, value });
  });

  it.each(['', '{', 'not json', '{"orderId": "o1",}', Buffer.from([0xff, 0xfe])])(
    'malformed_json for %j',
    (payload) => {
      const r = parsePayload(PlaceOrder, payload);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('malformed_json');
        expect(r.message).toMatch(/^payload is not JSON: /);
      }
    },
  );

  it('invalid_payload names the path of each problem', () => {
    const r = parsePayload(PlaceOrder, JSON.stringify({ orderId: 'o1', lines: [{ sku: 'A', qty: 0 }] }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('invalid_payload');
      expect(r.message).toContain('lines.0.qty');
      expect(r.message).toContain('must be positive');
    }
  });

  it('invalid_payload names (root) for a root problem and lists unrecognized keys', () => {
    const r1 = parsePayload(PlaceOrder, '42');
    expect(r1).toMatchObject({ ok: false, code: 'invalid_payload' });
    if (!r1.ok) expect(r1.message).toMatch(/^\(root\): /);
    const r2 = parsePayload(
      PlaceOrder,
      JSON.stringify({ orderId: 'o1', lines: [{ sku: 'A', qty: 1 }], foo: 1 }),
    );
    expect(r2).toMatchObject({ ok: false, code: 'invalid_payload' });
    if (!r2.ok) expect(r2.message).toContain('foo');
  });

  it('reports at most five issues', () => {
    const lines = Array.from({ length: 10 }, (_, i) => ({ sku: `s${i}`, qty: -1 }));
    const r = parsePayload(PlaceOrder, JSON.stringify({ orderId: 'o1', lines }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.split('; ')).toHaveLength(5);
  });

  it('valid JSON of the wrong shape is invalid_payload, not malformed_json', () => {
    expect(parsePayload(PlaceOrder, 'null')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(parsePayload(Command, '{"id":"1","op":"prepare","tx":"t"}')).toMatchObject({
      ok: false,
      code: 'invalid_payload',
      message: expect.stringContaining('prepare needs lines'),
    });
  });
});

describe('guessRef', () => {
  it.each([
    ['{"orderId":"o1","lines":[]}', 'o1'],
    [Buffer.from('{"orderId":"o 2 with spaces"}'), 'o 2 with spaces'],
    ['{"orderId":7}', undefined],
    [`{"orderId":"${'x'.repeat(129)}"}`, undefined],
    [`{"orderId":"${'x'.repeat(128)}"}`, 'x'.repeat(128)],
    ['{"id":"o1"}', undefined],
    ['not json', undefined],
    ['null', undefined],
    ['"orderId"', undefined],
    ['[1,2]', undefined],
  ] as [string | Buffer, string | undefined][])('%s -> %s', (payload, expected) => {
    expect(guessRef(payload)).toBe(expected);
  });
});
