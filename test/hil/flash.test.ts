/**
 * Flashing through avrgirl-arduino's real STK500v1 code path, against a virtual Uno bootloader.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmulatedBoard } from '../../firmware/boards/emulated/index.ts';
import { connectBoard, firmwareLabel } from '../../firmware/boards/firmata.ts';
import { loadStandardFirmata, standardFirmataHexPath } from '../../firmware/boards/hex.ts';
import { STK, VirtualStk500Board } from '../../firmware/boards/stk500Virtual.ts';
import { type FlashProgress, flashBoard } from '../../firmware/flash.ts';

const dir = mkdtempSync(join(tmpdir(), 'stockgate-flash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flashBoard (avrgirl-arduino, STK500v1) against a virtual Uno', () => {
  it('writes StandardFirmata page by page, verifies it, and the flash holds exactly the image', async () => {
    const virtual = new VirtualStk500Board();
    const progress: FlashProgress[] = [];
    let baud = 0;
    const result = await flashBoard({
      openPort: (baudRate) => {
        baud = baudRate;
        return virtual;
      },
      onProgress: (p) => progress.push(p),
    });
    const image = loadStandardFirmata('uno');
    expect(baud).toBe(115200);
    expect(result.bytes).toBe(image.data.length);
    expect(result.pages).toBe(Math.ceil(image.data.length / 128));
    expect(virtual.resets).toBe(1);
    expect(virtual.pagesWritten).toBe(result.pages);
    expect(virtual.pagesRead).toBe(result.pages);
    expect(Buffer.from(virtual.readFlash(image.data.length)).equals(Buffer.from(image.data))).toBe(true);
    // Nothing beyond the image was touched.
    expect(virtual.flash.subarray(image.data.length).every((b) => b === 0xff)).toBe(true);
    expect(virtual.progMode).toBe(false);
    expect(virtual.isOpen).toBe(false);
    // The command sequence avrgirl's stk500v1 path sends.
    const commands = virtual.log.map((l) => l.command);
    expect(commands.slice(0, 6)).toEqual([
      STK.GET_SYNC,
      STK.GET_SYNC,
      STK.GET_SYNC,
      STK.READ_SIGN,
      STK.SET_DEVICE,
      STK.ENTER_PROGMODE,
    ]);
    expect(commands.at(-1)).toBe(STK.LEAVE_PROGMODE);
    // Progress: connecting, resetting, syncing, writing 0..N, verifying 0..N, done at 100 %.
    const phases = [...new Set(progress.map((p) => p.phase))];
    expect(phases).toEqual(['connecting', 'resetting', 'syncing', 'writing', 'verifying', 'done']);
    expect(progress.filter((p) => p.phase === 'writing').at(-1)?.pagesDone).toBe(result.pages);
    expect(progress.at(-1)).toMatchObject({ phase: 'done', percent: 100 });
    const percents = progress.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
  });

  it('refuses a corrupt hex before touching the board, naming the line', async () => {
    const lines = readFileSync(standardFirmataHexPath('uno'), 'utf8').split('\n');
    const l7 = lines[6]!.trimEnd();
    lines[6] = `${l7.slice(0, -1)}${l7.endsWith('0') ? '1' : '0'}`;
    const corrupt = join(dir, 'corrupt.hex');
    writeFileSync(corrupt, lines.join('\n'));
    const virtual = new VirtualStk500Board();
    await expect(flashBoard({ openPort: () => virtual, hexPath: corrupt })).rejects.toThrow(
      /^corrupt\.hex line 7: checksum mismatch/,
    );
    expect(virtual.resets).toBe(0);
  });

  it('fails clearly when the bootloader never answers', async () => {
    // A board whose bootloader is gone: it ignores everything, reset or not.
    const virtual = new VirtualStk500Board({ bootloaderTimeoutMs: 0 });
    virtual.resetBoard = function (this: VirtualStk500Board) {
      this.resets++;
    };
    await expect(flashBoard({ openPort: () => virtual })).rejects.toThrow(/the bootloader did not answer/);
    expect(virtual.pagesWritten).toBe(0);
  }, 10_000);

  it('gives a clear error for a serial port that does not exist', async () => {
    await expect(flashBoard({ port: '/dev/ttyStockgateNope0' })).rejects.toThrow(
      /cannot open serial port \/dev\/ttyStockgateNope0: no such device/,
    );
  });

  it('the flashed bytes boot on the emulated Uno and answer Firmata (port opened before connecting)', async () => {
    const virtual = new VirtualStk500Board();
    const result = await flashBoard({ openPort: () => virtual });
    const data = virtual.readFlash(result.bytes);
    const emu = new EmulatedBoard({
      name: 'flashed',
      lcd: false,
      speed: Number.POSITIVE_INFINITY,
      hex: { data, definedBytes: data.length, source: 'virtual-flash' },
    });
    try {
      const opened = new Promise<void>((resolve) => emu.port.once('open', () => resolve()));
      emu.start();
      await opened;
      expect(emu.port.isOpen).toBe(true);
      const board = await connectBoard(emu.port, { handshakeTimeoutMs: 20_000 });
      expect(firmwareLabel(board)).toMatch(/^StandardFirmata/);
    } finally {
      await emu.stop();
    }
  }, 30_000);
});
