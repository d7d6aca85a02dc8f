/**
 * Who may publish and subscribe to what, per role, as pure functions over the contract's topics.
 * The broker's hooks call these; nothing else decides access.
 *
 * - client `<cid>`: publishes its own `orders/{place,cancel,query}` (never retained); reads its own
 *   `orders/status` and `errors`.
 * - terminal `<tid>`: publishes its own `{state,inventory,reply,events,inquiry}` (only state and
 *   inventory retained); reads its own `cmd` and `faults/terminals/<tid>`.
 * - operator: publishes fault commands (`faults/gateway|terminals/<tid>|links/<tid>`, never
 *   retained); reads `stats/#`, every terminal's state and inventory, `faults/active|errors`.
 * - only the gateway (inside the broker, no client) publishes cmd, status, errors and stats.
 * Anything outside the contract (`$SYS`, other bases, unknown kinds) is refused.
 */
import type { Topics } from '../../protocol/index.ts';
import type { Identity } from './credentials.ts';

export type Access = { ok: true } | { ok: false; reason: string };

const allow: Access = { ok: true };
const deny = (reason: string): Access => ({ ok: false, reason });

/** An MQTT clientId must be the identity's name or start with `<name>-`. */
export function clientIdAllowed(
  identity: Identity,
  clientId: string,
  isIdentity: (name: string) => boolean = () => false,
): boolean {
  return clientIdOwner(clientId, (n) => n === identity.name || isIdentity(n)) === identity.name;
}

/**
 * Whose session a clientId is: the longest identity name that is the clientId or a prefix of it
 * followed by `-`. Names may contain `-`, so `c1-x` belongs to identity `c1-x` when it exists, not
 * to `c1`: without this, `c1` could take over `c1-x`'s session.
 */
export function clientIdOwner(clientId: string, isIdentity: (name: string) => boolean): string | undefined {
  if (isIdentity(clientId)) return clientId;
  for (let i = clientId.lastIndexOf('-'); i > 0; i = clientId.lastIndexOf('-', i - 1)) {
    const prefix = clientId.slice(0, i);
    if (isIdentity(prefix)) return prefix;
  }
  return undefined;
}

export function canPublish(identity: Identity, topic: string, retain: boolean, topics: Topics): Access {
  const t = topics.parse(topic);
  if (!t) return deny(`topic '${topic}' is outside the contract`);
  switch (identity.role) {
    case 'client':
      if (
        t.family === 'client' &&
        t.cid === identity.name &&
        (t.kind === 'place' || t.kind === 'cancel' || t.kind === 'query')
      ) {
        return retain ? deny('clients may not retain') : allow;
      }
      return deny(`client '${identity.name}' may not publish to '${topic}'`);
    case 'terminal':
      if (t.family === 'terminal' && t.tid === identity.name && t.kind !== 'cmd') {
        if (retain && t.kind !== 'state' && t.kind !== 'inventory')
          return deny(`only state and inventory may be retained`);
        return allow;
      }
      return deny(`terminal '${identity.name}' may not publish to '${topic}'`);
    case 'operator':
      if (t.family === 'fault' && t.kind === 'command')
        return retain ? deny('fault commands may not be retained') : allow;
      return deny(`operator '${identity.name}' may not publish to '${topic}'`);
  }
}

export function canSubscribe(identity: Identity, filter: string, topics: Topics): Access {
  const b = topics.base;
  let allowed: string[];
  switch (identity.role) {
    case 'client':
      allowed = [topics.client(identity.name, 'status'), topics.client(identity.name, 'errors')];
      break;
    case 'terminal':
      allowed = [
        topics.terminal(identity.name, 'cmd'),
        topics.fault({ kind: 'terminal', tid: identity.name }),
      ];
      break;
    case 'operator':
      allowed = [
        `${b}/stats/#`,
        `${b}/terminals/+/state`,
        `${b}/terminals/+/inventory`,
        topics.faultsActive(),
        topics.faultErrors(),
      ];
      break;
  }
  return allowed.some((pattern) => covers(pattern, filter))
    ? allow
    : deny(`${identity.role} '${identity.name}' may not subscribe to '${filter}'`);
}

/** Whether a message on the concrete `topic` may be delivered to `identity` (every forward is checked). */
export function canRead(identity: Identity, topic: string, topics: Topics): boolean {
  return canSubscribe(identity, topic, topics).ok;
}

/**
 * A will is a publish made later on the client's behalf: it gets the same ACL, checked at CONNECT
 * (aedes would only check it when it fires, after the client is gone).
 */
export function canWill(
  identity: Identity,
  will: { topic: string; retain: boolean },
  topics: Topics,
): Access {
  return canPublish(identity, will.topic, will.retain, topics);
}

/** Whether every topic matched by `filter` is also matched by `pattern` (both MQTT filters). */
export function covers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  for (let i = 0; i < p.length; i++) {
    const ps = p[i]!;
    const fs = f[i];
    if (ps === '#') return true;
    if (fs === undefined) return false;
    if (ps === '+') {
      if (fs === '#') return false;
      continue;
    }
    if (ps !== fs) return false;
  }
  return f.length === p.length;
}
