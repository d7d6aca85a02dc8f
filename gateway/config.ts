/**
 * The gateway's configuration: embedded defaults, overridden by the contract's environment
 * variables, overridden by explicit options (tests use port 0).
 */
import { resolve } from 'node:path';
import { DEFAULT_BASE_TOPIC } from '../protocol/index.ts';
import { type CoordinatorOptions, DEFAULT_COORDINATOR_OPTIONS } from './coordinator.ts';

export interface GatewayConfig {
  dataDir: string;
  host: string;
  mqttPort: number;
  wsPort: number;
  httpPort: number;
  baseTopic: string;
  maxPayloadBytes: number;
  commandTimeoutMs: number;
  maxBackoffMs: number;
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

export function defaultDataDir(): string {
  return resolve(process.env.STOCKGATE_DATA_DIR ?? './data');
}

export function loadConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    dataDir: defaultDataDir(),
    host: process.env.STOCKGATE_HOST ?? '127.0.0.1',
    mqttPort: envInt('STOCKGATE_MQTT_PORT', 1883),
    wsPort: envInt('STOCKGATE_WS_PORT', 8083),
    httpPort: envInt('STOCKGATE_HTTP_PORT', 8080),
    baseTopic: process.env.STOCKGATE_BASE_TOPIC ?? DEFAULT_BASE_TOPIC,
    maxPayloadBytes: 16 * 1024,
    commandTimeoutMs: 1000,
    maxBackoffMs: 5000,
    ...overrides,
    coordinator: { ...DEFAULT_COORDINATOR_OPTIONS, ...overrides.coordinator },
  };
}
