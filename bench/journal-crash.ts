/**
 * Crash consistency of the gateway's journal (gateway/journal/sqliteJournal.ts): a child process
 * appends as fast as it can and prints the last append that resolved; it is killed (-9) at a
 * random moment; every append that had resolved must be in the journal when it is opened again.
 * Rounds run on the same file (so recovery, checkpoints and WAL reuse are crossed too).
 *
 *   npx tsx bench/journal-crash.ts [--rounds 8]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteJournal } from '../gateway/journal/sqliteJournal.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '8' }, child: { type: 'string' }, base: { type: 'string' } },
});

if (values.child) {
  // The child: append in groups of 50, print the highest id acknowledged.
  const j = new SqliteJournal(values.child);
  await j.open();
  let n = Number(values.base ?? 0);
  for (;;) {
    const ps: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) {
      const id = ++n;
      const lines = [{ sku: 'sku-0001', qty: 1 }];
      ps.push(
        j.append({ type: 'accepted', at: Date.now(), cid: 'c1', orderId: `o${id}`, lines }).then(() => id),
      );
    }
    const done = await Promise.all(ps);
    process.stdout.write(`${done.at(-1)}\n`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stockgate-journal-crash-'));
const file = join(dir, 'journal.sqlite');
const self = fileURLToPath(import.meta.url);
let lost = 0;
for (let round = 0; round < Number(values.rounds); round++) {
  const base = (round + 1) * 10_000_000;
  let acked = base;
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--child', file, '--base', String(base)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.on('data', (d: Buffer) => {
    for (const l of d.toString().trim().split('\n')) acked = Math.max(acked, Number(l));
  });
  await new Promise((r) => setTimeout(r, 2500 + Math.random() * 3000));
  let wal = 0;
  try {
    wal = statSync(`${file}-wal`).size;
  } catch {
    wal = 0;
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const db = new Database(file, { readonly: true });
  const { n } = db
    .prepare('SELECT count(*) AS n FROM orders WHERE CAST(substr(order_id, 2) AS INTEGER) BETWEEN ? AND ?')
    .get(base + 1, acked) as { n: number };
  db.close();
  const expected = acked - base;
  if (n !== expected) lost++;
  process.stdout.write(
    `round ${round + 1}: ${expected} appends acknowledged, ${n} found ${n === expected ? 'ok' : 'LOST'} (WAL ${(wal / 1e6).toFixed(1)} MB at the kill)\n`,
  );
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(lost ? `${lost} rounds lost acknowledged appends\n` : 'no acknowledged append lost\n');
process.exit(lost ? 1 : 0);
