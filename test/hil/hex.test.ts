import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EmulatedBoard } from '../../firmware/boards/emulated/index.ts';
import {
  HexFormatError,
  loadStandardFirmata,
  parseIntelHex,
  readHexFile,
  standardFirmataHexPath,
  UNO_APPLICATION_BYTES,
} from '../../firmware/boards/hex.ts';

const firmataText = () => readFileSync(standardFirmataHexPath('uno'), 'utf8');

describe('Intel HEX', () => {
  it('finds and parses StandardFirmata from avrgirl-arduino', () => {
    const image = loadStandardFirmata('uno');
    expect(image.source).toBe('StandardFirmata.cpp.hex');
    expect(image.data.length).toBeGreaterThan(8000);
    expect(image.data.length).toBeLessThan(UNO_APPLICATION_BYTES);
    expect(image.definedBytes).toBe(image.data.length);
    // The reset vector is a JMP (0x940C little-endian: 0C 94).
    expect([image.data[0], image.data[1]]).toEqual([0x0c, 0x94]);
  });

  it('rejects a checksum error, naming the line', () => {
    const lines = firmataText().split('\n');
    // Flip one data digit on line 3 without fixing its checksum.
    const l3 = lines[2]!;
    lines[2] = `${l3.slice(0, 9)}${l3[9] === 'F' ? '0' : 'F'}${l3.slice(10)}`;
    const corrupt = lines.join('\n');
    expect(() => parseIntelHex(corrupt, { source: 'corrupt.hex' })).toThrow(HexFormatError);
    expect(() => parseIntelHex(corrupt, { source: 'corrupt.hex' })).toThrow(
      /^corrupt\.hex line 3: checksum mismatch/,
    );
  });

  it('rejects truncation, garbage and overflow with clear messages', () => {
    const text = firmataText();
    const noEof = text.replace(/:00000001FF\s*$/, '');
    expect(() => parseIntelHex(noEof, { source: 'a.hex' })).toThrow(
      /a\.hex line \d+: missing end-of-file record/,
    );
    const lines = text.split('\n');
    lines[9] = 'hello world';
    expect(() => parseIntelHex(lines.join('\n'), { source: 'b.hex' })).toThrow(
      /^b\.hex line 10: a record must start with ':'/,
    );
    const short = text.split('\n');
    short[4] = short[4]!.slice(0, 20);
    expect(() => parseIntelHex(short.join('\n'), { source: 'c.hex' })).toThrow(/^c\.hex line 5: /);
    expect(() => parseIntelHex(text, { source: 'd.hex', maxBytes: 1024 })).toThrow(/exceeds 1024 bytes/);
    expect(() => readHexFile('/nonexistent/firmware.hex')).toThrow(
      /cannot read firmware hex \/nonexistent\/firmware\.hex/,
    );
  });

  it('an emulated board refuses to build from a corrupt image before running anything', () => {
    const corrupt = firmataText().replace(/\n:/, '\n:ZZ');
    expect(() => new EmulatedBoard({ hex: parseIntelHex(corrupt, { source: 'x.hex' }) })).toThrow(
      /x\.hex line 2: non-hexadecimal character/,
    );
  });
});
