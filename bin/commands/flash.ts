/**
 * `stockgate flash`: flash StandardFirmata (or another .hex) onto a real Uno, with a progress bar.
 *
 *   stockgate flash --board uno --port /dev/ttyACM0 [--hex file.hex]
 *   stockgate flash --board uno --dry-run            # the whole avrgirl/STK500 path against a virtual Uno
 *
 * The hex is validated first (a corrupt file is refused, naming the line, before the board is
 * touched); the board is written and read back page by page.
 */
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import type { VirtualStk500Board } from '../../firmware/boards/stk500Virtual.ts';
import type { FlashOptions } from '../../firmware/flash.ts';

interface FlashCliOptions {
  board: 'uno';
  port?: string;
  hex?: string;
  dryRun?: boolean;
}

export function flashCommand(program: Command): void {
  program
    .command('flash')
    .description('flash StandardFirmata onto a real board (Arduino Uno), written and verified page by page')
    .addOption(new Option('--board <name>', 'board type').choices(['uno']).default('uno'))
    .option('--port <path>', 'serial port of the board (/dev/ttyACM0, /dev/ttyUSB0, COM3...)')
    .option('--hex <file>', 'firmware to flash (default StandardFirmata from avrgirl-arduino)')
    .option('--dry-run', 'flash a virtual Uno bootloader in this process instead of a real board')
    .action(async (o: FlashCliOptions) => {
      if (!o.port && !o.dryRun) throw new Error('give --port <path> (or --dry-run)');
      if (o.port && o.dryRun) throw new Error('--port and --dry-run exclude each other');
      // Loaded here, so that the other commands do not pay for serialport at start.
      const { flashBoard, textProgress } = await import('../../firmware/flash.ts');
      const { VirtualStk500Board } = await import('../../firmware/boards/stk500Virtual.ts');
      const options: FlashOptions = { board: o.board, onProgress: textProgress(process.stderr) };
      if (o.hex) options.hexPath = o.hex;
      let virtual: VirtualStk500Board | null = null;
      if (o.dryRun) {
        virtual = new VirtualStk500Board({ path: 'virtual-uno' });
        options.openPort = () => virtual!;
      } else {
        options.port = o.port!;
      }
      const target = o.dryRun ? 'a virtual Uno (dry run)' : o.port;
      process.stderr.write(`flashing ${o.board} on ${target}; the board resets itself...\n`);
      const result = await flashBoard(options);
      process.stderr.write(
        `flashed ${result.bytes} bytes (${result.pages} pages) of ${basename(result.hex)} to ${target} in ` +
          `${(result.ms / 1000).toFixed(1)} s${result.verified ? ', verified' : ''}\n`,
      );
      if (!o.dryRun) {
        process.stderr.write(
          'the L LED now blinks the firmware version at each reset; check the panel with ' +
            `npx tsx hardware/check.ts --port ${o.port}\n`,
        );
      }
    });
}
