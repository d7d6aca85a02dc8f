/**
 * `stockgate terminal` and `stockgate flash` as a user runs them (child processes): bad boards give
 * one clear line and exit 1; an emulated and a virtual terminal come online with the right retained
 * state and stop cleanly on Ctrl-C.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { standardFirmataHexPath } from '../../firmware/boards/hex.ts';
import { CredentialStore } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import { type TerminalState, Topics } from '../../protocol/index.ts';
import { type RunResult, stockgate as runStockgate } from '../helpers/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'stockgate-terminal-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV = { ...process.env, STOCKGATE_LOG_LEVEL: 'warn', STOCKGATE_DATA_DIR: dir };

function stockgate(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runStockgate(args, { env: ENV, timeoutMs });
}

/** The error lines (`stockgate: ...`) of a run. */
const errors = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('stockgate:'));

/** A firmware that runs but never speaks: `rjmp .-2` at address 0. */
const SILENT_HEX = ':02000000FFCF30\n:00000001FF\n';

const hasPython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

/** A pseudo-terminal: a real serial port where nobody answers (a board without StandardFirmata). */
async function openPty(): Promise<{ path: string; close: () => void }> {
  const pty = spawn(
    'python3',
    ['-c', 'import pty,os,time; m,s=pty.openpty(); print(os.ttyname(s), flush=True); time.sleep(60)'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const path = await new Promise<string>((resolve, reject) => {
    pty.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    pty.once('exit', () => reject(new Error('python3 pty helper exited')));
  });
  return { path, close: () => pty.kill() };
}

describe('stockgate terminal: bad boards', () => {
  it('a serial port that does not exist, a board that never answers (emulated, and a pty), a corrupt hex: one line each, exit 1', async () => {
    const silent = join(dir, 'silent.hex');
    writeFileSync(silent, SILENT_HEX);
    const lines = readFileSync(standardFirmataHexPath('uno'), 'utf8').split('\n');
    const l7 = lines[6]!.trimEnd();
    lines[6] = `${l7.slice(0, -1)}${l7.endsWith('0') ? '1' : '0'}`;
    const corrupt = join(dir, 'corrupt.hex');
    writeFileSync(corrupt, lines.join('\n'));
    const common = ['--id', 'e1', '--password', 'unused-password', '--url', 'mqtt://127.0.0.1:9'];
    const pty = hasPython ? await openPty() : null;
    try {
      const [noPort, noAnswer, badHex, ptyRun] = await Promise.all([
        stockgate(['terminal', '--board', 'serial', '--port', '/dev/ttyStockgateNope0', ...common]),
        stockgate([
          'terminal',
          '--board',
          'emulated',
          '--hex',
          silent,
          '--handshake-timeout',
          '1500',
          ...common,
        ]),
        stockgate(['terminal', '--board', 'emulated', '--hex', corrupt, ...common]),
        pty
          ? stockgate([
              'terminal',
              '--board',
              'serial',
              '--port',
              pty.path,
              '--handshake-timeout',
              '1000',
              ...common,
            ])
          : null,
      ]);
      expect(noPort.status).toBe(1);
      expect(errors(noPort)).toEqual([
        expect.stringMatching(/^stockgate: cannot open serial port \/dev\/ttyStockgateNope0: no such device/),
      ]);
      expect(noAnswer.status).toBe(1);
      expect(errors(noAnswer)).toEqual([
        expect.stringMatching(/^stockgate: board did not answer the Firmata handshake within 1500 ms/),
      ]);
      expect(badHex.status).toBe(1);
      expect(errors(badHex)).toEqual([
        expect.stringMatching(/^stockgate: corrupt\.hex line 7: checksum mismatch/),
      ]);
      if (ptyRun) {
        expect(ptyRun.status).toBe(1);
        expect(errors(ptyRun)).toEqual([
          expect.stringMatching(/^stockgate: board did not answer the Firmata handshake within 1000 ms/),
        ]);
      }
    } finally {
      pty?.close();
    }
  }, 60_000);
});

describe('stockgate terminal: running', () => {
  it('an emulated and a virtual terminal come online, say which board they run on, and stop on SIGINT', async () => {
    const gwDir = join(dir, 'gw');
    const store = new CredentialStore(credentialStorePath(gwDir)).load();
    await store.provision('e1', 'terminal', 'e1-password-1');
    await store.provision('v1', 'terminal', 'v1-password-1');
    await store.provision('operator', 'operator', 'op-password-1');
    const gateway = new Gateway({ dataDir: gwDir, mqttPort: 0, wsPort: 0, httpPort: 0 });
    const ports = await gateway.start();
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    const topics = new Topics();
    const operator = await connectMqttAsync(url, {
      clientId: 'operator-cli',
      username: 'operator',
      password: 'op-password-1',
    });
    const states = new Map<string, TerminalState>();
    const seen = new EventEmitter();
    operator.on('message', (topic, payload) => {
      const t = topics.parse(topic);
      if (t?.family === 'terminal' && t.kind === 'state') {
        states.set(t.tid, JSON.parse(payload.toString()) as TerminalState);
        seen.emit('state');
      }
    });
    await operator.subscribeAsync(topics.allTerminals('state'), { qos: 1 });
    const children: ChildProcess[] = [];
    const exits: Array<Promise<number | null>> = [];
    const launch = (id: string, board: string, password: string) => {
      const proc = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'bin/stockgate.ts',
          'terminal',
          '--board',
          board,
          '--id',
          id,
          '--password',
          password,
          '--url',
          url,
          '--data-dir',
          join(dir, 'ledgers'),
          '--stock',
          'apple=5,pear=3',
        ],
        { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      children.push(proc);
      exits.push(
        new Promise((resolve) => proc.on('exit', (code) => resolve(code))).then((code) => {
          if (code !== 0) process.stderr.write(stderr);
          return code as number | null;
        }),
      );
    };
    try {
      launch('e1', 'emulated', 'e1-password-1');
      launch('v1', 'virtual', 'v1-password-1');
      await until(
        seen,
        'state',
        () => states.get('e1')?.state === 'online' && states.get('v1')?.state === 'online',
        45_000,
        'e1 and v1 online',
      );
      expect(states.get('e1')).toEqual({
        state: 'online',
        board: 'emulated',
        firmware: expect.stringMatching(/^StandardFirmata/),
        skus: ['apple', 'pear'],
      });
      expect(states.get('v1')).toMatchObject({ state: 'online', board: 'virtual', skus: ['apple', 'pear'] });
      for (const c of children) c.kill('SIGINT');
      expect(await Promise.all(exits)).toEqual([0, 0]);
      await until(
        seen,
        'state',
        () => states.get('e1')?.state === 'offline' && states.get('v1')?.state === 'offline',
        5000,
        'e1 and v1 offline',
      );
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await operator.endAsync(true);
      await gateway.stop();
    }
  }, 60_000);
});

describe('stockgate flash', () => {
  it('a port that does not exist: one line, exit 1; a dry run flashes a virtual Uno with progress', async () => {
    const [nope, dry] = await Promise.all([
      stockgate(['flash', '--board', 'uno', '--port', '/dev/ttyStockgateNope0']),
      stockgate(['flash', '--board', 'uno', '--dry-run']),
    ]);
    expect(nope.status).toBe(1);
    expect(errors(nope)).toEqual([
      expect.stringMatching(/^stockgate: cannot open serial port \/dev\/ttyStockgateNope0: no such device/),
    ]);
    expect(dry.status).toBe(0);
    expect(dry.stderr).toMatch(/100% verifying 96\/96 pages/);
    expect(dry.stderr).toMatch(/100% done/);
    expect(dry.stderr).toMatch(/flashed \d+ bytes \(96 pages\) of StandardFirmata\.cpp\.hex .* verified/);
  }, 60_000);
});
