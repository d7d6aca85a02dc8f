/**
 * One stockgate system for the bench, each part its own process: the gateway (`stockgate gateway`,
 * real TCP ports, its own data dir), terminal fleets and client load generators. The gateway can be
 * killed (-9) and restarted on the same ports; every part's CPU and RSS can be sampled from /proc.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';
import { prebuiltCli } from '../../lib/prebuilt.ts';
import { skuName } from '../../sim/layout.ts';
import { type BenchContext, sleep, startWorker, workerScript } from './context.ts';
import { type Cred, creds, names, provisionMany } from './identities.ts';
import { STOCKGATE_BIN, type Worker } from './worker.ts';

export interface SystemSpec {
  name: string;
  terminals: number;
  /** Terminal worker processes (the terminals are split among them). */
  terminalProcesses?: number;
  /** Each terminal process starts its terminals in waves of this size (default: all at once). */
  terminalWave?: number;
  /** Average SKUs stocked per terminal. */
  skusPerTerminal: number;
  initialStock: [number, number];
  /** Client identities that place orders (one connection each). */
  clients: number;
  /** Extra identities provisioned for idle connections. */
  idleIdentities?: number;
  gatewayEnv?: Record<string, string>;
  /** Node flags for the gateway (--cpu-prof ...). */
  gatewayFlags?: string[];
  /**
   * Run the gateway from the prebuilt bundle, as `stockgate start` does (default), or under tsx:
   * a profile names our files only under tsx (the bundle is one file).
   */
  prebuilt?: boolean;
  workerFlags?: (name: string) => string[];
  seed: number;
}

export interface Health {
  clients: number;
  terminals: { known: number; online: number };
  openTransactions: number;
  orders: { open: number };
}

/** Average replicas per SKU in sim/layout.ts: half at one terminal, half at 2..3. */
const REPLICAS = 1.75;

export class BenchSystem {
  gateway!: Worker;
  terminalWorkers: Worker[] = [];
  clients: Worker | null = null;
  readonly dataDir: string;
  readonly terminalIds: string[];
  readonly clientCreds: Cred[];
  readonly idleCreds: Cred[];
  skus: string[] = [];
  slots = 0;
  private ports = { mqtt: 0, ws: 0, http: 0, mqtts: 0, wss: 0 };
  gatewayStarts = 0;

  constructor(
    private readonly ctx: BenchContext,
    readonly spec: SystemSpec,
  ) {
    this.dataDir = join(ctx.workDir, spec.name);
    mkdirSync(this.dataDir, { recursive: true });
    const width = Math.max(2, String(spec.terminals).length);
    this.terminalIds = Array.from(
      { length: spec.terminals },
      (_, i) => `t${String(i + 1).padStart(width, '0')}`,
    );
    this.clientCreds = creds(names('c', spec.clients));
    this.idleCreds = creds(names('idle', spec.idleIdentities ?? 0));
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.ports.mqtt}`;
  }

  async provision(): Promise<void> {
    await provisionMany(this.dataDir, [
      ...this.terminalIds.map((name) => ({ name, role: 'terminal' as const })),
      ...this.clientCreds.map((c) => ({ name: c.username, role: 'client' as const })),
      ...this.idleCreds.map((c) => ({ name: c.username, role: 'client' as const })),
    ]);
    this.ports = {
      mqtt: await freePort(),
      ws: await freePort(),
      http: await freePort(),
      mqtts: await freePort(),
      wss: await freePort(),
    };
  }

  /** Starts (or restarts) the gateway process on the same ports and data dir. */
  async startGateway(): Promise<number> {
    const t0 = performance.now();
    this.gatewayStarts++;
    const prebuilt = this.spec.prebuilt ?? true;
    this.gateway = await startWorker(this.ctx, {
      name: `${this.spec.name}-gateway`,
      script: prebuilt ? await prebuiltCli() : STOCKGATE_BIN,
      javascript: prebuilt,
      args: ['gateway'],
      nodeFlags: [...(prebuilt ? ['--enable-source-maps'] : []), ...(this.spec.gatewayFlags ?? [])],
      env: {
        STOCKGATE_DATA_DIR: this.dataDir,
        STOCKGATE_MQTT_PORT: String(this.ports.mqtt),
        STOCKGATE_WS_PORT: String(this.ports.ws),
        STOCKGATE_HTTP_PORT: String(this.ports.http),
        STOCKGATE_MQTTS_PORT: String(this.ports.mqtts),
        STOCKGATE_WSS_PORT: String(this.ports.wss),
        STOCKGATE_NEMESIS_SEED: String(this.spec.seed),
        ...this.spec.gatewayEnv,
      },
    });
    return performance.now() - t0;
  }

  async startTerminals(): Promise<{
    startMs: number;
    onlineMs: number;
    slots: number;
    waves: number;
    slowestWaveMs: number;
  }> {
    const t0 = performance.now();
    const n = Math.max(1, Math.min(this.spec.terminalProcesses ?? 1, this.terminalIds.length));
    const groups = Array.from({ length: n }, (_, g) => this.terminalIds.filter((_, i) => i % n === g));
    // Each process lays out its own terminals (sim/layout.ts); SKU names repeat across processes.
    const skuCounts = groups.map((ids) =>
      Math.max(1, Math.round((ids.length * this.spec.skusPerTerminal) / REPLICAS)),
    );
    this.skus = Array.from({ length: Math.max(...skuCounts) }, (_, i) => skuName(i));
    this.terminalWorkers = await Promise.all(
      groups.map((_, g) =>
        startWorker(this.ctx, {
          name: `${this.spec.name}-terminals-${g}`,
          script: workerScript('terminals'),
          nodeFlags: this.spec.workerFlags?.(`terminals-${g}`) ?? [],
          env: { STOCKGATE_LOG_LEVEL: 'warn' },
        }),
      ),
    );
    const started = await Promise.all(
      this.terminalWorkers.map((w, g) =>
        w.call<{ startMs: number; slots: number; waves: number; slowestWaveMs: number }>('start', {
          url: this.url,
          terminals: creds(groups[g]!).map((c) => ({ id: c.username, ...c })),
          dataDir: join(this.dataDir, 'terminals'),
          skus: skuCounts[g]!,
          maxReplicas: 3,
          initialStock: this.spec.initialStock,
          pickDelayMs: [50, 500],
          restockBelow: 20,
          restockAmount: this.spec.initialStock[1],
          seed: this.spec.seed + g * 7919,
          ...(this.spec.terminalWave ? { wave: this.spec.terminalWave } : {}),
        }),
      ),
    );
    this.slots = started.reduce((s, r) => s + r.slots, 0);
    const startMs = Math.max(...started.map((s) => s.startMs));
    await this.waitTerminalsOnline(300_000);
    return {
      startMs,
      onlineMs: performance.now() - t0,
      slots: this.slots,
      waves: started.reduce((s, r) => s + r.waves, 0),
      slowestWaveMs: Math.max(...started.map((s) => s.slowestWaveMs)),
    };
  }

  /** Until the gateway sees every terminal online. */
  async waitTerminalsOnline(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      const h = await this.health().catch(() => null);
      if (h && h.terminals.online >= this.terminalIds.length) return performance.now() - t0;
      if (performance.now() - t0 > timeoutMs)
        throw new Error(
          `${this.spec.name}: ${h?.terminals.online ?? 0}/${this.terminalIds.length} terminals online after ${timeoutMs} ms`,
        );
      await sleep(25);
    }
  }

  async startClients(runId: string): Promise<{ ms: number }> {
    this.clients = await startWorker(this.ctx, {
      name: `${this.spec.name}-clients`,
      script: workerScript('clients'),
      nodeFlags: this.spec.workerFlags?.('clients') ?? [],
    });
    const r = await this.clients.call<{ ms: number }>('connect', {
      url: this.url,
      identities: this.clientCreds,
      perIdentity: 1,
      skus: this.skus,
      lines: [1, 3],
      qty: [1, 3],
      seed: this.spec.seed,
      runId,
    });
    return r;
  }

  async health(): Promise<Health> {
    const res = await fetch(`http://127.0.0.1:${this.ports.http}/healthz`, {
      signal: AbortSignal.timeout(5000),
    });
    return (await res.json()) as Health;
  }

  async stop(): Promise<void> {
    await this.clients?.stop();
    await Promise.all(this.terminalWorkers.map((w) => w.stop()));
    await this.gateway?.stop();
  }
}
