import { describe, expect, it } from 'vitest';
import {
  canPublish,
  canRead,
  canSubscribe,
  canWill,
  clientIdAllowed,
  clientIdOwner,
  covers,
} from '../../gateway/auth/acl.ts';
import type { Identity } from '../../gateway/auth/credentials.ts';
import { Topics } from '../../protocol/index.ts';

const client: Identity = { name: 'c1', role: 'client' };
const terminal: Identity = { name: 't1', role: 'terminal' };
const operator: Identity = { name: 'op', role: 'operator' };

describe.each([
  ['default base', new Topics()],
  ['custom base', new Topics('site/gw')],
])('ACL with %s', (_name, topics) => {
  const b = topics.base;
  type Row = [Identity, string, boolean, boolean];

  describe('canPublish', () => {
    const rows: Row[] = [
      // client: own order commands only, never retained
      [client, topics.client('c1', 'place'), false, true],
      [client, topics.client('c1', 'cancel'), false, true],
      [client, topics.client('c1', 'query'), false, true],
      [client, topics.client('c1', 'place'), true, false],
      [client, topics.client('c1', 'cancel'), true, false],
      [client, topics.client('c1', 'status'), false, false],
      [client, topics.client('c1', 'errors'), false, false],
      [client, topics.client('c2', 'place'), false, false],
      [client, topics.client('c2', 'cancel'), false, false],
      [client, topics.terminal('c1', 'reply'), false, false],
      [client, topics.terminal('t1', 'inventory'), false, false],
      [client, topics.fault({ kind: 'gateway' }), false, false],
      [client, topics.statsSummary(), false, false],
      // terminal: its own topics except cmd; only state and inventory retained
      [terminal, topics.terminal('t1', 'state'), true, true],
      [terminal, topics.terminal('t1', 'state'), false, true],
      [terminal, topics.terminal('t1', 'inventory'), true, true],
      [terminal, topics.terminal('t1', 'reply'), false, true],
      [terminal, topics.terminal('t1', 'reply'), true, false],
      [terminal, topics.terminal('t1', 'events'), false, true],
      [terminal, topics.terminal('t1', 'events'), true, false],
      [terminal, topics.terminal('t1', 'inquiry'), false, true],
      [terminal, topics.terminal('t1', 'inquiry'), true, false],
      [terminal, topics.terminal('t1', 'cmd'), false, false],
      [terminal, topics.terminal('t2', 'state'), true, false],
      [terminal, topics.terminal('t2', 'reply'), false, false],
      [terminal, topics.terminal('t2', 'inventory'), true, false],
      [terminal, topics.client('t1', 'place'), false, false],
      [terminal, topics.fault({ kind: 'terminal', tid: 't1' }), false, false],
      [terminal, topics.statsTerminal('t1'), true, false],
      // operator: fault commands only, never retained
      [operator, topics.fault({ kind: 'gateway' }), false, true],
      [operator, topics.fault({ kind: 'terminal', tid: 't1' }), false, true],
      [operator, topics.fault({ kind: 'link', tid: 't9' }), false, true],
      [operator, topics.fault({ kind: 'link', tid: 't9' }), true, false],
      [operator, topics.faultsActive(), false, false],
      [operator, topics.faultsActive(), true, false],
      [operator, topics.statsSummary(), false, false],
      [operator, topics.terminal('t1', 'cmd'), false, false],
      [operator, topics.client('op', 'place'), false, false],
    ];
    it.each(rows)('%o publishes %s retain=%s -> %s', (identity, topic, retain, allowed) => {
      const access = canPublish(identity, topic, retain, topics);
      expect(access.ok).toBe(allowed);
      if (!access.ok) expect(access.reason.length).toBeGreaterThan(0);
    });

    it.each([
      [client, `${b}/clients/+/orders/place`],
      [client, `${b}/clients/c1/orders/#`],
      [terminal, `${b}/terminals/t1/#`],
      [terminal, `${b}/terminals/+/state`],
      [operator, `${b}/faults/#`],
      [operator, `${b}/faults/links/+`],
      [client, `${b}/clients/c1/orders/place/extra`],
      [client, 'elsewhere/clients/c1/orders/place'],
      [operator, `${b}/faults/links/t.1`],
    ])('%o may not publish outside the contract: %s', (identity, topic) => {
      const access = canPublish(identity, topic, false, topics);
      expect(access).toEqual({ ok: false, reason: `topic '${topic}' is outside the contract` });
    });
  });

  describe('canSubscribe', () => {
    const rows: [Identity, string, boolean][] = [
      // client: its own status and errors
      [client, topics.client('c1', 'status'), true],
      [client, topics.client('c1', 'errors'), true],
      [client, topics.client('c1', 'place'), false],
      [client, topics.client('c2', 'status'), false],
      [client, `${b}/clients/+/orders/status`, false],
      [client, `${b}/clients/c1/#`, false],
      [client, `${b}/clients/c1/orders/+`, false],
      [client, `${b}/#`, false],
      [client, '#', false],
      [client, topics.terminal('t1', 'inventory'), false],
      [client, topics.statsSummary(), false],
      // terminal: its own commands and faults
      [terminal, topics.terminal('t1', 'cmd'), true],
      [terminal, topics.fault({ kind: 'terminal', tid: 't1' }), true],
      [terminal, topics.terminal('t2', 'cmd'), false],
      [terminal, topics.allTerminals('cmd'), false],
      [terminal, topics.fault({ kind: 'terminal', tid: 't2' }), false],
      [terminal, topics.fault({ kind: 'link', tid: 't1' }), false],
      [terminal, `${b}/faults/terminals/+`, false],
      [terminal, `${b}/terminals/t1/#`, false],
      [terminal, topics.terminal('t1', 'reply'), false],
      [terminal, topics.client('c1', 'place'), false],
      // operator: stats, terminal state and inventory, active faults
      [operator, topics.statsSummary(), true],
      [operator, topics.statsTerminal('t1'), true],
      [operator, `${b}/stats/#`, true],
      [operator, `${b}/stats/terminals/+`, true],
      [operator, `${b}/stats/+`, true],
      [operator, topics.allTerminals('state'), true],
      [operator, topics.allTerminals('inventory'), true],
      [operator, topics.terminal('t7', 'state'), true],
      [operator, topics.terminal('t7', 'inventory'), true],
      [operator, topics.faultsActive(), true],
      [operator, topics.faultErrors(), true],
      [operator, topics.fault({ kind: 'gateway' }), false],
      [operator, topics.fault({ kind: 'terminal', tid: 't1' }), false],
      [operator, topics.allTerminals('cmd'), false],
      [operator, topics.allTerminals('reply'), false],
      [operator, `${b}/terminals/+/+`, false],
      [operator, `${b}/terminals/#`, false],
      [operator, `${b}/faults/#`, false],
      [operator, `${b}/faults/+`, false],
      [operator, `${b}/#`, false],
      [operator, '#', false],
      [operator, topics.client('c1', 'status'), false],
    ];
    it.each(rows)('%o subscribes %s -> %s', (identity, filter, allowed) => {
      const access = canSubscribe(identity, filter, topics);
      expect(access.ok).toBe(allowed);
      if (!access.ok) expect(access.reason).toContain(identity.name);
    });
  });
});

describe('canRead (every delivery) and canWill (checked at CONNECT)', () => {
  const topics = new Topics();
  it.each([
    [client, topics.client('c1', 'status'), true],
    [client, topics.client('c1', 'errors'), true],
    [client, topics.client('c2', 'status'), false],
    [client, topics.client('c1', 'place'), false],
    [terminal, topics.terminal('t1', 'cmd'), true],
    [terminal, topics.fault({ kind: 'terminal', tid: 't1' }), true],
    [terminal, topics.terminal('t2', 'cmd'), false],
    [operator, topics.statsSummary(), true],
    [operator, topics.statsTerminal('t9'), true],
    [operator, topics.terminal('t9', 'inventory'), true],
    [operator, topics.faultErrors(), true],
    [operator, topics.terminal('t9', 'reply'), false],
    [operator, '$SYS/broker/new/clients', false],
    [operator, '$stockgate/dropped', false],
  ])('%o reads %s -> %s', (identity, topic, allowed) => {
    expect(canRead(identity, topic, topics)).toBe(allowed);
  });

  it.each([
    [terminal, topics.terminal('t1', 'state'), true, true],
    [terminal, topics.terminal('t1', 'state'), false, true],
    [terminal, topics.terminal('t1', 'reply'), true, false],
    [terminal, topics.terminal('t1', 'cmd'), false, false],
    [terminal, topics.terminal('t2', 'state'), true, false],
    [client, topics.client('c1', 'place'), false, true],
    [client, topics.client('c1', 'place'), true, false],
    [client, topics.client('c2', 'place'), false, false],
    [client, topics.client('c1', 'status'), false, false],
    [operator, topics.faultsActive(), true, false],
    [operator, '$SYS/x', false, false],
  ])('%o will on %s retain=%s -> %s', (identity, topic, retain, allowed) => {
    expect(canWill(identity, { topic, retain }, topics).ok).toBe(allowed);
  });
});

describe('the base topic is respected', () => {
  it('a client of one base may not act under another', () => {
    const topics = new Topics('site/gw');
    expect(canPublish(client, new Topics().client('c1', 'place'), false, topics).ok).toBe(false);
    expect(canSubscribe(client, new Topics().client('c1', 'status'), topics).ok).toBe(false);
  });
});

describe('clientIdAllowed', () => {
  it.each([
    ['c1', true],
    ['c1-sub', true],
    ['c1-pub-2', true],
    ['c1-', true],
    ['c10', false],
    ['c', false],
    ['c1_sub', false],
    ['x-c1', false],
    ['C1', false],
    ['', false],
  ])('c1 as %j -> %s', (clientId, allowed) => {
    expect(clientIdAllowed(client, clientId)).toBe(allowed);
  });
});

describe('covers', () => {
  it.each([
    // exact
    ['a/b/c', 'a/b/c', true],
    ['a/b/c', 'a/b/d', false],
    // '+' matches one level, and a '+' in the filter
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a', false],
    ['a/+', 'a/#', false],
    ['+', 'a', true],
    ['+', 'a/b', false],
    // '#' matches the rest, including the parent level
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c/d', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['a/#', 'a', true],
    ['a/#', 'b/c', false],
    ['#', 'anything/at/all', true],
    ['#', '#', true],
    // a wider filter is not covered by a narrower pattern
    ['a/b/c', 'a/+/c', false],
    ['a/b/c', 'a/#', false],
    ['a/b/c', '#', false],
    ['a/b/+', 'a/b/#', false],
    // longer or shorter filters
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a', false],
    // empty levels are levels
    ['a/+', 'a/', true],
    ['a/b', 'a/b/', false],
  ])('%j covers %j -> %s', (pattern, filter, expected) => {
    expect(covers(pattern, filter)).toBe(expected);
  });
});

describe('clientIdOwner: names with dashes', () => {
  const names = new Set(['c1', 'c1-x', 'shop-a']);
  const isIdentity = (n: string) => names.has(n);
  it.each([
    ['c1', 'c1'],
    ['c1-sub', 'c1'],
    ['c1-x', 'c1-x'],
    ['c1-x-pub', 'c1-x'],
    ['shop-a-7', 'shop-a'],
    ['shop-b', undefined],
    ['zz', undefined],
  ])('%s belongs to %s', (clientId, owner) => {
    expect(clientIdOwner(clientId, isIdentity)).toBe(owner);
  });

  it('stops one identity taking over the session of another whose name extends it', () => {
    const c1 = { name: 'c1', role: 'client' as const };
    expect(clientIdAllowed(c1, 'c1-sub', isIdentity)).toBe(true);
    expect(clientIdAllowed(c1, 'c1-x', isIdentity)).toBe(false);
    expect(clientIdAllowed(c1, 'c1-x-pub', isIdentity)).toBe(false);
    expect(clientIdAllowed({ name: 'c1-x', role: 'client' }, 'c1-x-pub', isIdentity)).toBe(true);
  });
});
