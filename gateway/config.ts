/**
 * The gateway's configuration: embedded defaults, overridden by the contract's environment
 * variables, overridden by explicit options (tests use port 0).
 */
import { resolve } from 'node:path';
import { DEFAULT_BASE_TOPIC } from '../protocol/index.ts';
import type { Role } from './auth/credentials.ts';
import { type CoordinatorOptions, DEFAULT_COORDINATOR_OPTIONS } from './coordinator.ts';
import { type AuthBackoffOptions, DEFAULT_AUTH_BACKOFF, DEFAULT_LIMITS } from './limits.ts';

export interface TlsConfig {
  /** Open the mqtts and wss listeners (STOCKGATE_TLS, default on; `0` turns them off). */
  enabled: boolean;
  /** Only TLS: the plain MQTT and WebSocket listeners stay closed (STOCKGATE_REQUIRE_TLS=1). */
  require: boolean;
  /** User-supplied PEM files (STOCKGATE_TLS_CERT, _KEY, _CA); else generated under <data>/tls/. */
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
}

export interface GatewayConfig {
  dataDir: string;
  host: string;
  mqttPort: number;
  wsPort: number;
  httpPort: number;
  /**
   * MQTT over TLS (STOCKGATE_MQTTS_PORT, 8883). 0 = any free port, the default when mqttPort is
   * given in code rather than by the environment.
   */
  mqttsPort: number;
  /** MQTT over secure WebSocket, path /mqtt (STOCKGATE_WSS_PORT, 8084; 0 as for mqttsPort). */
  wssPort: number;
  tls: TlsConfig;
  baseTopic: string;
  /** Largest payload accepted on a client's order topics (answered with payload_too_large). */
  maxPayloadBytes: number;
  /** Largest payload of any PUBLISH or will at the broker (STOCKGATE_MAX_PUBLISH_BYTES, 256 KiB). */
  maxPublishBytes: number;
  /** Concurrent connections, all transports (STOCKGATE_MAX_CONNECTIONS, 1000). */
  maxConnections: number;
  /** Messages per second per connection, by role (STOCKGATE_PUBLISH_RATE_CLIENT|_TERMINAL|_OPERATOR). */
  publishRate: Record<Role, number>;
  /** Orders per client between place and confirmed/final (STOCKGATE_MAX_IN_FLIGHT, 100; 0 = no limit). */
  maxInFlightPerClient: number;
  authBackoff: AuthBackoffOptions;
  /** A subscriber whose socket stays full this long is disconnected (STOCKGATE_DRAIN_TIMEOUT_MS). */
  drainTimeoutMs: number;
  /** A connection must complete CONNECT within this (STOCKGATE_CONNECT_TIMEOUT_MS, 10 s). */
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  maxBackoffMs: number;
  /** Seed of the link faults' randomness (STOCKGATE_NEMESIS_SEED; random by default, logged). */
  nemesisSeed: number;
  /** Whether the gateway crash fault may kill this process (only when it runs alone). */
  allowCrash: boolean;
  coordinator: CoordinatorOptions;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number, got '${raw}'`);
  return n;
}

function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number >= 0, got '${raw}'`);
  return n;
}

function envFlag(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be 1 or 0, got '${raw}'`);
}

export function defaultDataDir(): string {
  return resolve(process.env.STOCKGATE_DATA_DIR ?? './data');
}

export function loadConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const mqttPort = overrides.mqttPort ?? envInt('STOCKGATE_MQTT_PORT', 1883);
  // A plain port chosen in code (tests, embedding; 0 = any free port) makes the TLS ports default
  // to any free port too, so that two gateways in one test run never both take 8883.
  const tlsPort = (name: string, fallback: number) =>
    envInt(name, overrides.mqttPort !== undefined ? 0 : fallback);
  return {
    dataDir: defaultDataDir(),
    host: process.env.STOCKGATE_HOST ?? '127.0.0.1',
    mqttPort,
    wsPort: envInt('STOCKGATE_WS_PORT', 8083),
    httpPort: envInt('STOCKGATE_HTTP_PORT', 8080),
    mqttsPort: tlsPort('STOCKGATE_MQTTS_PORT', 8883),
    wssPort: tlsPort('STOCKGATE_WSS_PORT', 8084),
    tls: {
      enabled: envFlag('STOCKGATE_TLS', true),
      require: envFlag('STOCKGATE_REQUIRE_TLS', false),
      cert: process.env.STOCKGATE_TLS_CERT || undefined,
      key: process.env.STOCKGATE_TLS_KEY || undefined,
      ca: process.env.STOCKGATE_TLS_CA || undefined,
    },
    baseTopic: process.env.STOCKGATE_BASE_TOPIC ?? DEFAULT_BASE_TOPIC,
    maxPayloadBytes: 16 * 1024,
    maxPublishBytes: envCount('STOCKGATE_MAX_PUBLISH_BYTES', DEFAULT_LIMITS.maxPublishBytes),
    maxConnections: envCount('STOCKGATE_MAX_CONNECTIONS', DEFAULT_LIMITS.maxConnections),
    publishRate: {
      client: envCount('STOCKGATE_PUBLISH_RATE_CLIENT', DEFAULT_LIMITS.publishRate.client),
      terminal: envCount('STOCKGATE_PUBLISH_RATE_TERMINAL', DEFAULT_LIMITS.publishRate.terminal),
      operator: envCount('STOCKGATE_PUBLISH_RATE_OPERATOR', DEFAULT_LIMITS.publishRate.operator),
    },
    maxInFlightPerClient: envCount('STOCKGATE_MAX_IN_FLIGHT', 100),
    authBackoff: DEFAULT_AUTH_BACKOFF,
    drainTimeoutMs: envCount('STOCKGATE_DRAIN_TIMEOUT_MS', DEFAULT_LIMITS.drainTimeoutMs),
    connectTimeoutMs: envCount('STOCKGATE_CONNECT_TIMEOUT_MS', DEFAULT_LIMITS.connectTimeoutMs),
    commandTimeoutMs: 1000,
    maxBackoffMs: 5000,
    nemesisSeed: envCount('STOCKGATE_NEMESIS_SEED', Math.floor(Math.random() * 2 ** 31)),
    allowCrash: false,
    ...overrides,
    coordinator: {
      ...DEFAULT_COORDINATOR_OPTIONS,
      // A short TTL makes the terminals' inquiries (and their mutation test) happen in a short run.
      ...(process.env.STOCKGATE_RESERVATION_TTL_MS
        ? { reservationTtlMs: Number(process.env.STOCKGATE_RESERVATION_TTL_MS) }
        : {}),
      ...overrides.coordinator,
    },
  };
}
