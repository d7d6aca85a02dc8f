/**
 * Intel HEX: locate the StandardFirmata image and parse/validate it.
 *
 * The firmware is StandardFirmata (LGPL 2.1) as compiled and shipped by the npm package
 * `avrgirl-arduino` (`junk/hex/<board>/StandardFirmata.cpp.hex`). It is read from node_modules at
 * run time and never copied into this repository. `STOCKGATE_FIRMATA_HEX` overrides the path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

/** ATmega328P: 32 KiB of flash. */
export const ATMEGA328P_FLASH_BYTES = 0x8000;
/** Uno: the top 512 bytes hold the optiboot bootloader, so a sketch must end below 0x7E00. */
export const UNO_APPLICATION_BYTES = 0x7e00;

export interface HexImage {
  /** Bytes from address 0 up to the highest address written; gaps are 0xFF (erased flash). */
  data: Uint8Array;
  /** Number of bytes actually defined by data records. */
  definedBytes: number;
  /** Start address from a type 03/05 record, if any. */
  startAddress?: number;
  /** Where it came from (file name), for messages. */
  source: string;
}

/** A malformed Intel HEX file; `line` is 1-based. */
export class HexFormatError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${source} line ${line}: ${reason}`);
    this.name = 'HexFormatError';
  }
}

export interface ParseHexOptions {
  /** Name used in error messages. */
  source?: string;
  /** Refuse images larger than this many bytes (default: the ATmega328P's 32 KiB). */
  maxBytes?: number;
}

const hex2 = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** Parse and validate Intel HEX text (record types 00..05, checksums, EOF record, size). */
export function parseIntelHex(text: string, options: ParseHexOptions = {}): HexImage {
  const source = options.source ?? '<hex>';
  const maxBytes = options.maxBytes ?? ATMEGA328P_FLASH_BYTES;
  const lines = text.split(/\r?\n/);
  const image = new Uint8Array(maxBytes).fill(0xff);
  const written = new Uint8Array(maxBytes);
  let highest = 0;
  let definedBytes = 0;
  let base = 0;
  let sawEof = false;
  let startAddress: number | undefined;

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const fail = (reason: string): never => {
      throw new HexFormatError(source, lineNo, reason);
    };
    if (sawEof) fail('data after the end-of-file record');
    if (line[0] !== ':') fail(`a record must start with ':' (found ${JSON.stringify(line.slice(0, 12))})`);
    const body = line.slice(1);
    if (body.length % 2 !== 0) fail('odd number of hex digits');
    if (!/^[0-9a-fA-F]*$/.test(body)) fail('non-hexadecimal character');
    if (body.length < 10) fail('record too short');
    const bytes = new Uint8Array(body.length / 2);
    for (let j = 0; j < bytes.length; j++) bytes[j] = Number.parseInt(body.slice(j * 2, j * 2 + 2), 16);
    const count = bytes[0]!;
    if (bytes.length !== count + 5)
      fail(`byte count says ${count} data bytes, record has ${bytes.length - 5}`);
    let sum = 0;
    for (let j = 0; j < bytes.length - 1; j++) sum = (sum + bytes[j]!) & 0xff;
    const expected = (0x100 - sum) & 0xff;
    const actual = bytes[bytes.length - 1]!;
    if (expected !== actual)
      fail(`checksum mismatch (record says ${hex2(actual)}, computed ${hex2(expected)})`);
    const offset = (bytes[1]! << 8) | bytes[2]!;
    const type = bytes[3]!;
    const data = bytes.subarray(4, 4 + count);
    switch (type) {
      case 0x00: {
        const address = base + offset;
        if (address + count > maxBytes) {
          fail(
            `data at 0x${address.toString(16)}..0x${(address + count).toString(16)} exceeds ${maxBytes} bytes`,
          );
        }
        for (let j = 0; j < count; j++) {
          if (written[address + j]) fail(`address 0x${(address + j).toString(16)} written twice`);
          written[address + j] = 1;
          image[address + j] = data[j]!;
        }
        definedBytes += count;
        highest = Math.max(highest, address + count);
        break;
      }
      case 0x01:
        if (count !== 0) fail('end-of-file record with data');
        sawEof = true;
        break;
      case 0x02:
        if (count !== 2) fail('extended segment address record must carry 2 bytes');
        base = ((data[0]! << 8) | data[1]!) << 4;
        break;
      case 0x03:
        if (count !== 4) fail('start segment address record must carry 4 bytes');
        startAddress = (((data[0]! << 8) | data[1]!) << 4) + ((data[2]! << 8) | data[3]!);
        break;
      case 0x04:
        if (count !== 2) fail('extended linear address record must carry 2 bytes');
        base = ((data[0]! << 8) | data[1]!) << 16;
        break;
      case 0x05:
        if (count !== 4) fail('start linear address record must carry 4 bytes');
        startAddress = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
        break;
      default:
        fail(`unknown record type ${hex2(type)}`);
    }
  }
  if (!sawEof) throw new HexFormatError(source, lines.length, 'missing end-of-file record (:00000001FF)');
  if (definedBytes === 0) throw new HexFormatError(source, lines.length, 'no data records');
  const result: HexImage = { data: image.slice(0, highest), definedBytes, source };
  if (startAddress !== undefined) result.startAddress = startAddress;
  return result;
}

/** Read and parse an Intel HEX file. */
export function readHexFile(path: string, options: Omit<ParseHexOptions, 'source'> = {}): HexImage {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read firmware hex ${path}: ${(err as Error).message}`);
  }
  return parseIntelHex(text, { ...options, source: basename(path) });
}

/**
 * Where StandardFirmata for `board` is: `STOCKGATE_FIRMATA_HEX` if set, else the copy inside the
 * installed avrgirl-arduino package. Throws a clear Error if it is not there.
 */
export function standardFirmataHexPath(board = 'uno'): string {
  const override = process.env['STOCKGATE_FIRMATA_HEX'];
  if (override) {
    if (!existsSync(override)) throw new Error(`STOCKGATE_FIRMATA_HEX=${override}: no such file`);
    return override;
  }
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('avrgirl-arduino/package.json');
  } catch {
    throw new Error(
      'StandardFirmata hex not found: the npm package avrgirl-arduino is not installed (run npm install), ' +
        'or set STOCKGATE_FIRMATA_HEX to a StandardFirmata .hex',
    );
  }
  const path = join(dirname(pkg), 'junk', 'hex', board, 'StandardFirmata.cpp.hex');
  if (!existsSync(path)) throw new Error(`StandardFirmata hex for board "${board}" not found at ${path}`);
  return path;
}

/** Parse the StandardFirmata image for `board` (cached per path). */
const cache = new Map<string, HexImage>();
export function loadStandardFirmata(board = 'uno'): HexImage {
  const path = standardFirmataHexPath(board);
  let image = cache.get(path);
  if (!image) {
    image = readHexFile(path);
    cache.set(path, image);
  }
  return image;
}
