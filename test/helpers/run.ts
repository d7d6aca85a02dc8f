/**
 * Child processes for tests: a command's exit status and output. Asynchronous, never spawnSync:
 * the broker under test often lives in the test's own process and must keep serving meanwhile.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Killed (SIGKILL) and rejected past this. */
  timeoutMs?: number;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer =
      opts.timeoutMs === undefined
        ? null
        : setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`${cmd} ${args.join(' ')} did not exit in ${opts.timeoutMs} ms:\n${stderr}`));
          }, opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      if (timer) clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** `stockgate <args>` as a user runs it: its own process, from the project's root. */
export function stockgate(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', 'bin/stockgate.ts', ...args], { cwd: ROOT, ...opts });
}

/** Environment of a gateway child process on its own data dir, every listener on a port of its choosing. */
export function gatewayEnv(dataDir: string): Record<string, string> {
  return {
    STOCKGATE_DATA_DIR: dataDir,
    STOCKGATE_MQTT_PORT: '0',
    STOCKGATE_WS_PORT: '0',
    STOCKGATE_HTTP_PORT: '0',
    STOCKGATE_MQTTS_PORT: '0',
    STOCKGATE_WSS_PORT: '0',
    STOCKGATE_LOG_LEVEL: 'warn',
  };
}
