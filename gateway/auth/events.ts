/**
 * What the broker refused, and why: one event per refusal (each also has a log line). Tests wait
 * on these instead of sleeping; counts by kind are kept for metrics.
 */
import { EventEmitter } from 'node:events';

export type SecurityEvent =
  | { kind: 'auth_failed'; username?: string; clientId: string; address: string; reason: string }
  | { kind: 'auth_backoff'; username?: string; clientId: string; address: string; retryInMs: number }
  | { kind: 'connection_limit'; address: string; open: number; limit: number }
  | { kind: 'client_id_refused'; username: string; clientId: string }
  | { kind: 'will_refused'; username: string; clientId: string; topic: string; reason: string }
  | { kind: 'publish_refused'; clientId: string; topic: string; reason: string }
  | { kind: 'subscribe_refused'; clientId: string; topic: string; reason: string }
  | { kind: 'forward_refused'; clientId: string; topic: string }
  | { kind: 'rate_limited'; clientId: string; what: 'publish' | 'subscribe' }
  | { kind: 'flood'; clientId: string; dropped: number }
  | { kind: 'payload_too_large'; clientId: string; topic: string; bytes: number; limit: number }
  | { kind: 'packet_too_large'; address: string; clientId?: string; bytes: number; limit: number }
  | { kind: 'revoked'; name: string; clientId: string }
  | { kind: 'drain_timeout'; clientId: string };

export type SecurityKind = SecurityEvent['kind'];

export class SecurityMonitor extends EventEmitter<{ security: [SecurityEvent] }> {
  readonly counts = new Map<SecurityKind, number>();

  constructor() {
    super();
    this.setMaxListeners(100);
  }

  report(event: SecurityEvent): void {
    this.counts.set(event.kind, (this.counts.get(event.kind) ?? 0) + 1);
    this.emit('security', event);
  }

  count(kind: SecurityKind): number {
    return this.counts.get(kind) ?? 0;
  }
}
