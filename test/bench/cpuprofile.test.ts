/** The profile summary of the bench (bench/lib/cpuprofile.ts) on a small synthetic .cpuprofile. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { areaOf, summarize } from '../../bench/lib/cpuprofile.ts';

const dir = mkdtempSync(join(tmpdir(), 'stockgate-cpuprofile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const repo = (path: string) => pathToFileURL(join(process.cwd(), path)).href;
const frame = (functionName: string, url = '') => ({
  functionName,
  url,
  lineNumber: 0,
  columnNumber: 0,
  scriptId: '0',
});

/**
 * root -> (idle) | (garbage collector) | onReply (gateway/terminalLink.ts) -> parse (zod)
 *      -> processTimers (node:internal/timers) -> flush (gateway/journal/sqliteJournal.ts)
 *         -> run (better-sqlite3)
 */
const nodes = [
  { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 6] },
  { id: 2, callFrame: frame('(idle)') },
  { id: 3, callFrame: frame('(garbage collector)') },
  { id: 4, callFrame: frame('onReply', repo('gateway/terminalLink.ts')), children: [5] },
  { id: 5, callFrame: frame('parse', 'file:///x/node_modules/zod/v4/core/schemas.js') },
  { id: 6, callFrame: frame('processTimers', 'node:internal/timers'), children: [7] },
  { id: 7, callFrame: frame('flush', repo('gateway/journal/sqliteJournal.ts')), children: [8] },
  { id: 8, callFrame: frame('run', 'file:///x/node_modules/better-sqlite3/lib/methods/wrappers.js') },
];

describe('cpuprofile summary', () => {
  it('names areas: packages, our files, Node core, builtins, GC', () => {
    expect(areaOf(frame('x', 'file:///a/node_modules/@scope/pkg/index.js'))).toBe('@scope/pkg');
    expect(areaOf(frame('x', 'file:///a/node_modules/aedes/lib/client.js'))).toBe('aedes');
    expect(areaOf(frame('x', repo('gateway/broker.ts')))).toBe('gateway/broker.ts');
    expect(areaOf(frame('x', repo('node_modules/.cache/stockgate/cli-0123/gateway-AB12.js')))).toBe(
      'stockgate (prebuilt bundle)',
    );
    expect(areaOf(frame('x', 'node:internal/timers'))).toBe('node:timers');
    expect(areaOf(frame('writev'))).toBe('V8 builtin: writev');
    expect(areaOf(frame('(garbage collector)'))).toBe('GC');
  });

  it('charges samples to functions, areas, owners and themes within the window', () => {
    // 10 samples 1 ms apart: idle x2, GC x1, zod under onReply x3, SQLite under the journal x4.
    const samples = [2, 2, 3, 5, 5, 5, 8, 8, 8, 8];
    const file = join(dir, 'p.cpuprofile');
    writeFileSync(
      file,
      JSON.stringify({
        nodes,
        startTime: 1_000_000,
        endTime: 1_010_000,
        samples,
        timeDeltas: samples.map(() => 1000),
      }),
    );
    const s = summarize(file);
    expect(s.busyMs).toBe(8);
    expect(s.byArea).toEqual([
      { name: 'better-sqlite3', ms: 4, pct: 50 },
      { name: 'zod', ms: 3, pct: 37.5 },
      { name: 'GC', ms: 1, pct: 12.5 },
    ]);
    // zod is a package: charged to itself; SQLite likewise.
    expect(s.byOwner.map((o) => o.name)).toEqual(['better-sqlite3', 'zod', 'GC']);
    const theme = (name: string) => s.themes.find((t) => t.name.startsWith(name))?.ms;
    expect(theme('journal')).toBe(4);
    expect(theme('zod')).toBe(3);
    expect(theme('GC')).toBe(1);
    expect(s.topFunctions[0]).toMatchObject({ name: expect.stringContaining('run better-sqlite3'), ms: 4 });

    // Only the samples stamped within the window count (the first sample is at 1.001 s).
    const w = summarize(file, { fromUs: 1_006_500, toUs: 1_010_000 });
    expect(w.busyMs).toBe(4);
    expect(w.byArea).toEqual([{ name: 'better-sqlite3', ms: 4, pct: 100 }]);
  });
});
