/**
 * Who may publish and subscribe to what, per role, as pure functions over the contract's topics.
 * The broker's hooks call these; nothing else decides access.
 */
import type { Topics } from '../../protocol/index.ts';
import type { Identity } from './credentials.ts';

export type Access = { ok: true } | { ok: false; reason: string };

const allow: Access = { ok: true };
const deny = (reason: string): Access => ({ ok: false, reason });

/** An MQTT clientId must be the identity's name or start with `<name>-`. */
export function clientIdAllowed(identity: Identity, clientId: string): boolean {
  return clientId === identity.name || clientId.startsWith(`${identity.name}-`);
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
        `${b}/faults/active`,
      ];
      break;
  }
  return allowed.some((pattern) => covers(pattern, filter))
    ? allow
    : deny(`${identity.role} '${identity.name}' may not subscribe to '${filter}'`);
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
