/**
 * Every topic string of the contract is built and parsed here, and nowhere else.
 * The base topic is configurable (default `stockgate`).
 */

export const DEFAULT_BASE_TOPIC = 'stockgate';

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export type ClientTopicKind = 'place' | 'cancel' | 'query' | 'status' | 'errors';
export type TerminalTopicKind = 'state' | 'inventory' | 'cmd' | 'reply' | 'events' | 'inquiry';

export type FaultTarget =
  | { kind: 'gateway' }
  | { kind: 'terminal'; tid: string }
  | { kind: 'link'; tid: string };

export type ParsedTopic =
  | { family: 'client'; kind: ClientTopicKind; cid: string }
  | { family: 'terminal'; kind: TerminalTopicKind; tid: string }
  | { family: 'stats'; kind: 'summary' }
  | { family: 'stats'; kind: 'terminal'; tid: string }
  | { family: 'stats'; kind: 'orders' }
  | { family: 'stats'; kind: 'skus' }
  | { family: 'fault'; kind: 'command'; target: FaultTarget }
  | { family: 'fault'; kind: 'active' }
  | { family: 'fault'; kind: 'errors' };

const CLIENT_PATHS: Record<ClientTopicKind, string> = {
  place: 'orders/place',
  cancel: 'orders/cancel',
  query: 'orders/query',
  status: 'orders/status',
  errors: 'errors',
};
const TERMINAL_KINDS: readonly TerminalTopicKind[] = [
  'state',
  'inventory',
  'cmd',
  'reply',
  'events',
  'inquiry',
];

export function faultTargetPath(target: FaultTarget): string {
  return target.kind === 'gateway'
    ? 'gateway'
    : `${target.kind === 'terminal' ? 'terminals' : 'links'}/${target.tid}`;
}

export class Topics {
  readonly base: string;
  private readonly prefix: string;

  constructor(base: string = DEFAULT_BASE_TOPIC) {
    if (!/^[A-Za-z0-9_/-]{1,64}$/.test(base) || base.startsWith('/') || base.endsWith('/')) {
      throw new Error(`invalid base topic '${base}'`);
    }
    this.base = base;
    this.prefix = `${base}/`;
  }

  client(cid: string, kind: ClientTopicKind): string {
    return `${this.base}/clients/${cid}/${CLIENT_PATHS[kind]}`;
  }

  terminal(tid: string, kind: TerminalTopicKind): string {
    return `${this.base}/terminals/${tid}/${kind}`;
  }

  /** A subscription filter for one kind of terminal topic across all terminals. */
  allTerminals(kind: TerminalTopicKind): string {
    return `${this.base}/terminals/+/${kind}`;
  }

  /** A subscription filter for one kind of client topic across all clients. */
  allClients(kind: ClientTopicKind): string {
    return `${this.base}/clients/+/${CLIENT_PATHS[kind]}`;
  }

  statsSummary(): string {
    return `${this.base}/stats/summary`;
  }

  statsTerminal(tid: string): string {
    return `${this.base}/stats/terminals/${tid}`;
  }

  /** Our extension: the most recently changed orders, for the operators. */
  statsOrders(): string {
    return `${this.base}/stats/orders`;
  }

  /** Our extension: sales and stock per SKU. */
  statsSkus(): string {
    return `${this.base}/stats/skus`;
  }

  fault(target: FaultTarget): string {
    return `${this.base}/faults/${faultTargetPath(target)}`;
  }

  faultsActive(): string {
    return `${this.base}/faults/active`;
  }

  /** Our extension: refusals of fault commands, for the operators (`{ref?, code, message}`). */
  faultErrors(): string {
    return `${this.base}/faults/errors`;
  }

  /** Parses a concrete topic (no wildcards). Returns null for anything outside the contract. */
  parse(topic: string): ParsedTopic | null {
    if (!topic.startsWith(this.prefix)) return null;
    const parts = topic.slice(this.prefix.length).split('/');
    const [family, a, b, c, extra] = parts;
    switch (family) {
      case 'clients': {
        if (a === undefined || !ID_PATTERN.test(a) || b === undefined) return null;
        if (b === 'errors' && c === undefined) return { family: 'client', kind: 'errors', cid: a };
        if (b !== 'orders' || extra !== undefined) return null;
        if (c === 'place' || c === 'cancel' || c === 'query' || c === 'status') {
          return { family: 'client', kind: c, cid: a };
        }
        return null;
      }
      case 'terminals': {
        if (a === undefined || !ID_PATTERN.test(a) || c !== undefined) return null;
        const kind = TERMINAL_KINDS.find((k) => k === b);
        return kind ? { family: 'terminal', kind, tid: a } : null;
      }
      case 'stats': {
        if (a === 'summary' && b === undefined) return { family: 'stats', kind: 'summary' };
        if (a === 'orders' && b === undefined) return { family: 'stats', kind: 'orders' };
        if (a === 'skus' && b === undefined) return { family: 'stats', kind: 'skus' };
        if (a === 'terminals' && b !== undefined && ID_PATTERN.test(b) && c === undefined) {
          return { family: 'stats', kind: 'terminal', tid: b };
        }
        return null;
      }
      case 'faults': {
        if (a === 'active' && b === undefined) return { family: 'fault', kind: 'active' };
        if (a === 'errors' && b === undefined) return { family: 'fault', kind: 'errors' };
        if (a === 'gateway' && b === undefined)
          return { family: 'fault', kind: 'command', target: { kind: 'gateway' } };
        if (
          (a === 'terminals' || a === 'links') &&
          b !== undefined &&
          ID_PATTERN.test(b) &&
          c === undefined
        ) {
          return {
            family: 'fault',
            kind: 'command',
            target: { kind: a === 'terminals' ? 'terminal' : 'link', tid: b },
          };
        }
        return null;
      }
      default:
        return null;
    }
  }
}
