/**
 * Reads a chaos-run history (JSONL, analysis/history.ts) line by line, validating each line with
 * the schema its `type` names. A line that is not valid is an `InputError` naming the file and
 * line; the one exception is a last line cut short (no newline at the end of the file and not
 * JSON), the mark of a run that died mid-write: it is skipped and counted.
 */
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { z } from 'zod';
import { InputError } from './errors.ts';
import { ClientOp, FinalRead, type HistoryLine, Meta, NemesisOp, Observe } from './history.ts';

const SCHEMA_BY_TYPE: Record<string, z.ZodType<HistoryLine>> = {
  invoke: ClientOp,
  ok: ClientOp,
  fail: ClientOp,
  info: ClientOp,
  observe: Observe,
  start: NemesisOp,
  stop: NemesisOp,
  final: FinalRead,
  meta: Meta,
};

export interface ReadStats {
  lines: number;
  /** A last line cut short, skipped. */
  truncated: { line: number; bytes: number } | null;
}

/** Calls `visit` for every line in order; resolves with what was read. */
export async function readHistory(
  file: string,
  visit: (line: HistoryLine, lineNo: number) => void,
): Promise<ReadStats> {
  if (!existsSync(file)) throw new InputError(`history ${file} does not exist`);
  if (!statSync(file).isFile()) throw new InputError(`history ${file} is not a file`);
  const endsWithNewline = lastByte(file) === 0x0a;
  const stats: ReadStats = { lines: 0, truncated: null };
  const input = createReadStream(file, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  let pendingError: { lineNo: number; text: string; message: string } | null = null;
  try {
    for await (const text of rl) {
      lineNo++;
      // An invalid line is fatal unless it turns out to be the last, unterminated one.
      if (pendingError)
        throw new InputError(`history ${file}:${pendingError.lineNo}: ${pendingError.message}`);
      if (text.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        pendingError = { lineNo, text, message: `not JSON (${(err as Error).message})` };
        continue;
      }
      const line = parseLine(json);
      if (typeof line === 'string') throw new InputError(`history ${file}:${lineNo}: ${line}`);
      stats.lines++;
      visit(line, lineNo);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read history ${file}: ${(err as Error).message}`);
  } finally {
    rl.close();
    input.destroy();
  }
  if (pendingError) {
    if (endsWithNewline)
      throw new InputError(`history ${file}:${pendingError.lineNo}: ${pendingError.message}`);
    stats.truncated = { line: pendingError.lineNo, bytes: Buffer.byteLength(pendingError.text) };
  }
  return stats;
}

function lastByte(file: string): number | undefined {
  const size = statSync(file).size;
  if (size === 0) return undefined;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1);
    readSync(fd, buf, 0, 1, size - 1);
    return buf[0];
  } finally {
    closeSync(fd);
  }
}

/** The line, or why it is not a valid history line. */
export function parseLine(json: unknown): HistoryLine | string {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return 'not a JSON object';
  const type = (json as { type?: unknown }).type;
  const schema = typeof type === 'string' ? SCHEMA_BY_TYPE[type] : undefined;
  if (!schema)
    return `unknown type ${JSON.stringify(type)} (expected one of ${Object.keys(SCHEMA_BY_TYPE).join(', ')})`;
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  return `invalid ${type} line: ${issues}`;
}
