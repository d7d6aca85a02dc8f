/**
 * Child processes of the bench, parent side: a process started with tsx (and optional Node flags
 * such as --cpu-prof), logging to a file, that announces `{ready: true, ...}` on its IPC channel, and
 * answers RPC calls (`{rpc, cmd, args}` -> `{rpc, ok, result | error}`). The gateway itself
 * (`stockgate gateway`) speaks the ready/stop half of this, so it runs through the same class.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const TSX = import.meta.resolve('tsx');
export const STOCKGATE_BIN = fileURLToPath(new URL('../../bin/stockgate.ts', import.meta.url));

export interface WorkerSpec {
  name: string;
  script: string;
  args?: string[];
  env?: Record<string, string>;
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** The script is JavaScript (a prebuilt bundle): run it without tsx. */
  javascript?: boolean;
  logFile: string;
  readyTimeoutMs?: number;
}

interface RpcReply {
  rpc: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class Worker {
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextCall = 0;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exitInfo: { code: number | null; signal: string | null } | null = null;
  ready: Record<string, unknown> = {};

  private constructor(
    readonly spec: WorkerSpec,
    private readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const c of this.calls.values()) c.reject(new Error(`${spec.name} exited (${signal ?? code})`));
        this.calls.clear();
        resolve(this.exitInfo);
      });
    });
    proc.on('message', (m: unknown) => {
      if (!m || typeof m !== 'object' || !('rpc' in m)) return;
      const reply = m as RpcReply;
      const call = this.calls.get(reply.rpc);
      if (!call) return;
      this.calls.delete(reply.rpc);
      if (reply.ok) call.resolve(reply.result);
      else call.reject(new Error(`${spec.name}: ${reply.error}`));
    });
  }

  /** Starts the process and resolves once it announced it is ready. */
  static start(spec: WorkerSpec): Promise<Worker> {
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const log = openSync(spec.logFile, 'a');
    const proc = fork(spec.script, spec.args ?? [], {
      execPath: process.execPath,
      execArgv: [...(spec.nodeFlags ?? []), ...(spec.javascript ? [] : ['--import', TSX])],
      stdio: ['ignore', log, log, 'ipc'],
      env: { ...process.env, ...spec.env, STOCKGATE_LOG_FILE: spec.logFile },
    });
    closeSync(log);
    const worker = new Worker(spec, proc);
    const timeoutMs = spec.readyTimeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${spec.name} not ready after ${timeoutMs} ms: see ${spec.logFile}`));
      }, timeoutMs);
      const onMessage = (m: unknown) => {
        if (m && typeof m === 'object' && 'ready' in m) {
          clearTimeout(timer);
          proc.off('message', onMessage);
          worker.ready = m as Record<string, unknown>;
          resolve(worker);
        }
      };
      proc.on('message', onMessage);
      void worker.exited.then((e) => {
        clearTimeout(timer);
        reject(
          new Error(`${spec.name} exited (${e.signal ?? e.code}) before it was ready: see ${spec.logFile}`),
        );
      });
    });
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  call<T>(cmd: string, args: unknown = {}, timeoutMs = 600_000): Promise<T> {
    if (!this.alive || !this.proc.connected) return Promise.reject(new Error(`${this.spec.name} is gone`));
    const id = ++this.nextCall;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`${this.spec.name}: '${cmd}' timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ rpc: id, cmd, args });
    });
  }

  /** Asks it to stop (exit code), killing it after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: string | null }> {
    if (!this.alive) return this.exitInfo!;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    if (this.proc.connected) this.proc.send('stop');
    else this.proc.kill('SIGTERM');
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  /** kill -9. */
  kill(): void {
    if (this.alive) this.proc.kill('SIGKILL');
  }
}
