/**
 * Child processes of `stockgate start`: each part runs as its own process (so a gateway crash is
 * a real process death), in its own process group (so Ctrl-C reaches only the supervisor, which
 * stops the parts in order), logging to its own file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prebuiltCli } from './prebuilt.ts';

const BIN = fileURLToPath(new URL('../bin/stockgate.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface ChildSpec {
  name: string;
  /** A script to run (with tsx) instead of bin/stockgate.ts, e.g. flows/launch.ts for Node-RED. */
  script?: string;
  args: string[];
  env?: Record<string, string>;
  logFile: string;
  /** Restart when it dies without being asked to stop. */
  restart?: boolean;
  /**
   * Run bin/stockgate.ts from its prebuilt bundle (lib/prebuilt.ts) instead of under tsx: starts
   * in half the time. Only for the gateway command.
   */
  prebuilt?: boolean;
}

export class SupervisedChild extends EventEmitter<{
  ready: [Record<string, unknown>];
  exit: [code: number | null, signal: string | null];
}> {
  private proc: ChildProcess | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  restarts = 0;

  constructor(readonly spec: ChildSpec) {
    super();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the child and resolves with what it announced when ready. */
  async start(timeoutMs = 60_000): Promise<Record<string, unknown>> {
    // A read-only node_modules (no room for the bundle) costs only the faster start.
    const bundle = this.spec.prebuilt
      ? await prebuiltCli().catch((err: Error) => {
          process.emitWarning(`${err.message}: running ${this.spec.name} under tsx`);
          return null;
        })
      : null;
    const argv = bundle ? ['--enable-source-maps', bundle] : ['--import', TSX, this.spec.script ?? BIN];
    if (this.stopping) throw new Error(`${this.spec.name} was stopped before it started`);
    mkdirSync(dirname(this.spec.logFile), { recursive: true });
    const log = openSync(this.spec.logFile, 'a');
    const proc = spawn(process.execPath, [...argv, ...this.spec.args], {
      stdio: ['ignore', log, log, 'ipc'],
      detached: true,
      env: { ...process.env, ...this.spec.env, STOCKGATE_LOG_FILE: this.spec.logFile },
    });
    closeSync(log);
    this.proc = proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${this.spec.name} not ready after ${timeoutMs} ms: see ${this.spec.logFile}`)),
        timeoutMs,
      );
      proc.on('message', (m) => {
        if (m && typeof m === 'object' && 'ready' in m) {
          clearTimeout(timer);
          this.emit('ready', m as Record<string, unknown>);
          resolve(m as Record<string, unknown>);
        }
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.proc = null;
        this.emit('exit', code, signal);
        if (this.stopping) return;
        reject(
          new Error(
            `${this.spec.name} exited (${signal ?? code}) before it was ready: see ${this.spec.logFile}`,
          ),
        );
        if (this.spec.restart) {
          this.restarts++;
          this.restartTimer = setTimeout(() => {
            this.restartTimer = null;
            if (!this.stopping) this.start(timeoutMs).catch(() => undefined);
          }, 300);
        }
      });
    });
  }

  /** Asks the child to stop; kills it if it has not exited in time. Resolves with its exit code. */
  stop(timeoutMs = 10_000): Promise<number | null> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (!proc) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      if (proc.connected) proc.send('stop');
      else proc.kill('SIGTERM');
    });
  }

  /** kill -9, as the gateway crash fault does. */
  kill(): void {
    this.proc?.kill('SIGKILL');
  }
}
