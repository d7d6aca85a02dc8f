/**
 * `stockgate terminal`: one stock terminal on a board.
 *
 *   stockgate terminal --board serial --port /dev/ttyACM0 --id t01 --credentials data/demo-credentials.json
 *   stockgate terminal --board emulated --id t01 --password <pw> --stock apple=20,pear=5
 *   stockgate terminal --board virtual --id t01 --credentials data/demo-credentials.json
 *
 * serial: a real Uno flashed with StandardFirmata (serialport@13 + firmata-io); emulated: the same
 * firmware on avr8js in this process; virtual: no board and no panel. A board that cannot be opened,
 * never answers the Firmata handshake, or whose firmware file is corrupt stops it with one line on
 * stderr and exit code 1; so does a board lost while running (the terminal goes offline through
 * its last will first).
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { BoardKind } from '../../firmware/boards/open.ts';
import type { BoardTerminalOptions } from '../../firmware/panel/boardTerminal.ts';
import { demoCredentialsPath } from '../../gateway/auth/demo.ts';
import { defaultDataDir } from '../../gateway/config.ts';
import { ID_PATTERN, SKU_PATTERN } from '../../protocol/index.ts';
import { announceReady, int, loadCredentials, num, runUntilSignal } from './common.ts';

// The same list as firmware/boards/open.ts BOARD_KINDS; the board code (johnny-five, avr8js,
// serialport) is loaded only when this command runs, so the other commands start fast.
const BOARD_KINDS: readonly BoardKind[] = ['serial', 'emulated', 'virtual'];

/** "apple=10,pear=5" -> { apple: 10, pear: 5 }. */
function stockList(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of raw.split(',').filter(Boolean)) {
    const m = /^([^=]+)=(\d+)$/.exec(part.trim());
    if (!m || !SKU_PATTERN.test(m[1]!))
      throw new InvalidArgumentError(`stock must look like apple=10,pear=5 (got "${part}")`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function defaultUrl(): string {
  return `mqtt://127.0.0.1:${process.env.STOCKGATE_MQTT_PORT ?? 1883}`;
}

interface TerminalCliOptions {
  board: BoardKind;
  id: string;
  port?: string;
  url: string;
  credentials?: string;
  password?: string;
  dataDir: string;
  stock?: Record<string, number>;
  hex?: string;
  handshakeTimeout?: number;
  speed: number;
  restockQty: number;
  lowStock: number;
  countMax: number;
  countPrompt?: boolean;
}

/** Reads a number from stdin for a count press (`--count-prompt`). */
function stdinPrompt(): (sku: string) => Promise<number | null> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return (sku) =>
    new Promise((resolve) => {
      rl.question(`count of ${sku} on the shelf (empty: cancel)? `, (answer) => {
        const n = Number(answer.trim());
        resolve(answer.trim() !== '' && Number.isInteger(n) && n >= 0 ? n : null);
      });
    });
}

export function terminalCommand(program: Command): void {
  program
    .command('terminal')
    .description('run one stock terminal on a board: serial (a real Uno), emulated (avr8js) or virtual')
    .addOption(
      new Option('--board <kind>', 'what the terminal runs on')
        .choices([...BOARD_KINDS])
        .makeOptionMandatory(),
    )
    .requiredOption('--id <tid>', 'terminal id (its MQTT identity)')
    .option('--port <path>', 'serial port of a real board (/dev/ttyACM0, COM3...)')
    .option('--url <url>', 'broker URL', defaultUrl())
    .option('--credentials <file>', 'credentials file (demo-credentials.json shape): the password of --id')
    .option('--password <password>', 'the terminal identity password (instead of --credentials)')
    .option(
      '--data-dir <dir>',
      'where ledgers live (the ledger is <dir>/<id>)',
      join(defaultDataDir(), 'terminals'),
    )
    .option('--stock <list>', 'stock for a brand-new ledger: apple=10,pear=5', stockList)
    .option('--hex <file>', 'emulated: the firmware image (default StandardFirmata from avrgirl-arduino)')
    .option(
      '--handshake-timeout <ms>',
      'how long the board may take to answer Firmata',
      int('handshake-timeout', 100),
    )
    .option('--speed <x>', 'emulated: emulated time per wall time', num('speed', 0.01), 1)
    .option('--restock-qty <n>', 'units one restock press adds', int('restock-qty', 1), 10)
    .option(
      '--low-stock <n>',
      'a SKU with fewer available units is low (red LED); 0: never',
      int('low-stock'),
      3,
    )
    .option('--count-max <n>', 'units the knob (A0) reads at full scale', int('count-max', 1), 100)
    .option('--count-prompt', 'a count press asks for the number on stdin instead of reading the knob')
    .action(async (o: TerminalCliOptions) => {
      if (!ID_PATTERN.test(o.id)) throw new Error(`--id must match ${ID_PATTERN.source} (got "${o.id}")`);
      if (o.board === 'serial' && !o.port)
        throw new Error('--board serial needs --port <path> (e.g. /dev/ttyACM0)');
      if (o.board !== 'serial' && o.port) throw new Error(`--port is for --board serial only`);
      if (o.board !== 'emulated' && o.hex) throw new Error(`--hex is for --board emulated only`);
      let password = o.password ?? process.env.STOCKGATE_TERMINAL_PASSWORD;
      if (!password) {
        const file = o.credentials ?? demoCredentialsPath(defaultDataDir());
        const entry = loadCredentials(file).terminals.find((t) => t.id === o.id);
        if (!entry) throw new Error(`no terminal "${o.id}" in ${file}`);
        password = entry.password;
      }
      const options: BoardTerminalOptions = {
        terminal: {
          id: o.id,
          url: o.url,
          password,
          dataDir: join(o.dataDir, o.id),
          ...(o.stock ? { initialStock: o.stock } : {}),
        },
        board: {
          kind: o.board,
          ...(o.port ? { port: o.port } : {}),
          ...(o.hex ? { hexPath: o.hex } : {}),
          ...(o.handshakeTimeout !== undefined ? { handshakeTimeoutMs: o.handshakeTimeout } : {}),
          speed: o.speed,
        },
        panel: {
          config: {
            restockQty: o.restockQty,
            lowStockBelow: o.lowStock,
            countMax: o.countMax,
            countFrom: o.countPrompt ? 'prompt' : 'analog',
          },
          ...(o.countPrompt ? { countPrompt: stdinPrompt() } : {}),
        },
      };
      const { BoardTerminal } = await import('../../firmware/panel/boardTerminal.ts');
      const unit = new BoardTerminal(options);
      const where = o.board === 'serial' ? ` on ${o.port}` : '';
      process.stderr.write(`terminal ${o.id}: opening the ${o.board} board${where}...\n`);
      const t0 = performance.now();
      await unit.start();
      const board = unit.board!;
      if (board.firmware) {
        process.stderr.write(
          `terminal ${o.id}: board ready in ${(board.bootMs / 1000).toFixed(1)} s, firmware ${board.firmware}\n`,
        );
      }
      unit.on('lost', (reason) => {
        process.stderr.write(
          `stockgate: terminal ${o.id}: board lost (${reason}); the terminal went offline\n`,
        );
        process.exit(1);
      });
      unit.terminal.on('connection', (online) =>
        process.stderr.write(
          `terminal ${o.id}: ${online ? 'online' : 'offline (reconnecting)'} at ${o.url}\n`,
        ),
      );
      await unit.waitOnline(30_000).catch(() => {
        process.stderr.write(`terminal ${o.id}: not online yet at ${o.url}; retrying in the background\n`);
      });
      if (unit.terminal.isOnline) {
        process.stderr.write(
          `terminal ${o.id}: online in ${((performance.now() - t0) / 1000).toFixed(1)} s (ledger ${options.terminal.dataDir})\n`,
        );
      }
      announceReady({ id: o.id, board: o.board, firmware: board.firmware });
      runUntilSignal(`terminal ${o.id}`, () => unit.stop());
    });
}
