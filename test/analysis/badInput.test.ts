/**
 * Bad input never crashes the analysis: a corrupt journal or history is a one-line error naming the
 * file (and the line, for a history); unusable journal records and a history's last line cut short
 * are skipped and counted.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyze } from '../../analysis/analyze.ts';
import { InputError } from '../../analysis/errors.ts';
import type { JournalRecord } from '../../gateway/journal/journal.ts';
import { type Run, runAnalyze } from './cli.ts';
import { buildHistory, buildRecords, T0, writeHistory, writeJournal } from './fixtures.ts';

let dir: string;
let good: string;
let history: string;
const built = buildRecords();

/** A data dir holding `journal` as its journal.sqlite. */
function dataDir(name: string, journal?: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  if (journal) copyFileSync(journal, join(d, 'journal.sqlite'));
  return d;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-badinput-'));
  good = join(dir, 'good.sqlite');
  await writeJournal(good, built.records);
  history = join(dir, 'history.jsonl');
  writeHistory(history, buildHistory(built));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function inputError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return (err as Error).message;
}

describe('a bad journal', () => {
  it('that does not exist', async () => {
    expect(await inputError(analyze({ journal: join(dir, 'nope.sqlite') }))).toMatch(
      /^journal .*nope\.sqlite does not exist$/,
    );
  });

  it('that is not a SQLite file', async () => {
    const file = join(dir, 'garbage.sqlite');
    writeFileSync(file, 'this is not a database\n'.repeat(500));
    expect(await inputError(analyze({ journal: file }))).toMatch(/garbage\.sqlite is not a SQLite database$/);
  });

  it('that is a SQLite file without the records table', async () => {
    const file = join(dir, 'other.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE things (x)');
    db.close();
    expect(await inputError(analyze({ journal: file }))).toMatch(
      /other\.sqlite is not a stockgate journal \(it has no records table\)/,
    );
  });

  it('that was cut short', async () => {
    // Enough records for many pages, then half the file gone.
    const file = join(dir, 'truncated.sqlite');
    const records: JournalRecord[] = Array.from({ length: 3000 }, (_, i) => ({
      type: 'accepted',
      at: T0 + i,
      cid: 'c1',
      orderId: `o${i}`,
      lines: [{ sku: 'A', qty: 1 }],
    }));
    await writeJournal(file, records);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(await inputError(analyze({ journal: file }))).toMatch(
      /truncated\.sqlite is corrupt or truncated.*malformed/,
    );
  });

  it('with unusable records: skipped and counted, the rest analysed', async () => {
    const file = join(dir, 'bad-records.sqlite');
    copyFileSync(good, file);
    const db = new Database(file);
    const ins = db.prepare('INSERT INTO records (at, type, body) VALUES (?, ?, ?)');
    ins.run(T0, 'accepted', '{"type":"accepted","at":');
    ins.run(T0, 'accepted', JSON.stringify({ type: 'accepted', at: T0, cid: 'c9' }));
    ins.run(T0, 'picked', JSON.stringify({ type: 'picked', at: 'yesterday' }));
    db.close();
    const f = await analyze({ journal: file });
    expect(f.journal.skipped).toBe(3);
    expect(f.journal.skippedByReason).toEqual({
      'body is not JSON': 1,
      'accepted without cid/orderId': 1,
      'no numeric at': 1,
    });
    expect(f.journal.records).toBe(built.records.length);
    expect(f.orders.accepted).toBe(32);
  });
});

describe('a bad history', () => {
  const lines = () => readFileSync(history, 'utf8').trimEnd().split('\n');

  it('that does not exist', async () => {
    expect(await inputError(analyze({ journal: good, history: join(dir, 'none.jsonl') }))).toMatch(
      /^history .*none\.jsonl does not exist$/,
    );
  });

  it('with a line that is not JSON: the error names the line', async () => {
    const file = join(dir, 'notjson.jsonl');
    const l = lines();
    l.splice(4, 0, '{"type":"invoke", oops');
    writeFileSync(file, `${l.join('\n')}\n`);
    expect(await inputError(analyze({ journal: good, history: file }))).toMatch(/notjson\.jsonl:5: not JSON/);
  });

  it('with a line that breaks the schema: the error names the line and the field', async () => {
    const file = join(dir, 'schema.jsonl');
    const l = lines();
    const third = JSON.parse(l[2]!) as Record<string, unknown>;
    l[2] = JSON.stringify({ ...third, state: 'teleported' });
    writeFileSync(file, `${l.join('\n')}\n`);
    expect(third.type).toBe('observe');
    expect(await inputError(analyze({ journal: good, history: file }))).toMatch(
      /schema\.jsonl:3: invalid observe line: state: /,
    );
  });

  it('with an unknown line type', async () => {
    const file = join(dir, 'type.jsonl');
    writeFileSync(file, `${lines()[0]}\n{"type":"teleport","time":1,"wall":2}\n`);
    expect(await inputError(analyze({ journal: good, history: file }))).toMatch(
      /type\.jsonl:2: unknown type "teleport"/,
    );
  });

  it('whose last line was cut short (the run died mid-write): skipped and counted', async () => {
    const file = join(dir, 'cut.jsonl');
    const l = lines();
    const last = l.pop()!;
    writeFileSync(file, `${l.join('\n')}\n${last.slice(0, 40)}`);
    const f = await analyze({ journal: good, history: file });
    expect(f.history).toMatchObject({ lines: l.length, truncatedLine: l.length + 1 });
  });

  it('a cut line that is not the last is an error', async () => {
    const file = join(dir, 'cut-middle.jsonl');
    const l = lines();
    l[1] = l[1]!.slice(0, 30);
    writeFileSync(file, `${l.join('\n')}\n`);
    expect(await inputError(analyze({ journal: good, history: file }))).toMatch(
      /cut-middle\.jsonl:2: not JSON/,
    );
  });
});

describe('the CLI on bad input: exit 1 and one line, never a stack trace', () => {
  let runs: Record<string, Run>;

  beforeAll(async () => {
    const garbage = dataDir('cli-garbage');
    writeFileSync(join(garbage, 'journal.sqlite'), Buffer.alloc(8192, 7));
    const ok = dataDir('cli-ok', good);
    const badHistory = join(dir, 'cli-history.jsonl');
    writeFileSync(
      badHistory,
      `${readFileSync(history, 'utf8').split('\n')[0]}\n{"type":"start","process":"nemesis"}\n`,
    );
    const badVerdict = join(dir, 'cli-verdict.json');
    writeFileSync(badVerdict, JSON.stringify({ ok: true, results: [{ invariant: 'made-up' }] }));
    const entries = await Promise.all(
      Object.entries({
        garbage: ['--data', garbage],
        missing: ['--data', join(dir, 'no-such-dir')],
        history: ['--data', ok, '--history', badHistory, '--out', join(dir, 'out-h')],
        verdict: ['--data', ok, '--verdict', badVerdict, '--out', join(dir, 'out-v')],
      }).map(async ([k, args]) => [k, await runAnalyze(args)] as const),
    );
    runs = Object.fromEntries(entries);
  }, 60_000);

  const oneLine = (r: Run, pattern: RegExp) => {
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).toMatch(pattern);
  };

  it('a journal that is not a database', () =>
    oneLine(runs.garbage!, /^stockgate: journal .*journal\.sqlite is not a SQLite database\n$/));
  it('no journal at all', () =>
    oneLine(runs.missing!, /^stockgate: journal .*no-such-dir\/journal\.sqlite does not exist\n$/));
  it('a history line that breaks the schema', () =>
    oneLine(runs.history!, /^stockgate: history .*cli-history\.jsonl:2: invalid start line: /));
  it('a verdict that is not one', () =>
    oneLine(
      runs.verdict!,
      /^stockgate: verdict .*cli-verdict\.json is not a verdict: results\[0\]\.invariant is unknown\n$/,
    ));

  it('nothing is written when the input is bad', () => {
    expect(() => statSync(join(dir, 'out-h'))).toThrow();
    expect(() => statSync(join(dir, 'cli-garbage', 'reports'))).toThrow();
  });
});
