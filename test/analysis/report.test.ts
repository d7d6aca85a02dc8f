/**
 * The report end to end: `stockgate analyze` on a journal written by the real SqliteJournal and a
 * realistic synthetic history (the chaos runner that writes real ones is not there yet), then the
 * report opened in headless Chromium, offline.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../../analysis/checker/verdict.ts';
import { INVARIANTS } from '../../analysis/checker/verdict.ts';
import type { Figures } from '../../analysis/figures.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.ts';
import { type Run, runAnalyze } from './cli.ts';
import { buildHistory, buildRecords, writeHistory, writeJournal } from './fixtures.ts';

const VERDICT: Verdict = {
  ok: false,
  results: INVARIANTS.map((invariant) =>
    invariant === 'no-oversell'
      ? {
          invariant,
          ok: false,
          checked: 18,
          violations: [
            {
              message: 'available is -1 for A at t1 (inventory seq 2)',
              terminal: 't1',
              sku: 'A',
              evidence: [{ seq: 2, items: { A: { onHand: 20, reserved: 1, committed: 20 } } }],
            },
          ],
        }
      : { invariant, ok: true, checked: 32, violations: [] },
  ),
};

let dir: string;
let data: string;
let run: Run;
let context: BrowserContext;
let page: Page;
const requests: string[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-report-'));
  data = join(dir, 'data');
  const built = buildRecords();
  await writeJournal(join(data, 'journal.sqlite'), built.records);
  writeHistory(join(dir, 'history.jsonl'), buildHistory(built, { observed: 'negative' }));
  writeFileSync(join(dir, 'verdict.json'), JSON.stringify(VERDICT));
  [run, context] = await Promise.all([
    runAnalyze([
      '--data',
      data,
      '--history',
      join(dir, 'history.jsonl'),
      '--verdict',
      join(dir, 'verdict.json'),
    ]),
    chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    }),
  ]);
  context.on('request', (r) => requests.push(r.url()));
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
}, 60_000);

afterAll(async () => {
  await context?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('stockgate analyze', () => {
  it('writes index.html and figures.json to <data>/reports/<timestamp> and to <data>/reports/latest', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const reports = readdirSync(join(data, 'reports'));
    expect(reports).toContain('latest');
    const stamped = reports.filter((d) => /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/.test(d));
    expect(stamped).toHaveLength(1);
    for (const d of [stamped[0]!, 'latest']) {
      expect(existsSync(join(data, 'reports', d, 'index.html'))).toBe(true);
      expect(existsSync(join(data, 'reports', d, 'figures.json'))).toBe(true);
    }
    expect(run.stdout).toMatch(/analysed \d+ records \(0 skipped\), 32 orders/);
    expect(run.stdout).toContain('verdict  VIOLATED: no-oversell (see the report)');
  });

  it('figures.json holds the data of every figure', () => {
    const f = JSON.parse(readFileSync(join(data, 'reports', 'latest', 'figures.json'), 'utf8')) as Figures;
    expect(f.orders.accepted).toBe(32);
    expect(f.faults).toHaveLength(3);
    expect(f.verdict?.ok).toBe(false);
    for (const key of [
      'throughput',
      'latency',
      'terminals',
      'sales',
      'stock',
      'slowest',
      'unfinished',
    ] as const)
      expect(f[key]).toBeDefined();
  });

  it('opens offline in Chromium: no console errors, no network request, every plot has marks', async () => {
    const url = pathToFileURL(join(data, 'reports', 'latest', 'index.html')).href;
    await page.goto(url, { waitUntil: 'load' });
    const figures = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('[data-figure]')].map((el) => {
        const svg = el.querySelector('svg[viewBox]');
        const marks = [...el.querySelectorAll('svg g[aria-label]')]
          .filter((g) => !/axis|grid|tick|frame/.test(g.getAttribute('aria-label') ?? ''))
          .reduce((n, g) => n + g.querySelectorAll('path, rect, circle, line').length, 0);
        return { name: el.dataset.figure, marks, width: svg?.getBoundingClientRect().width ?? 0 };
      }),
    );
    expect(figures.map((f) => f.name).sort()).toEqual(
      [
        'faults',
        'latency-accepted→confirmed',
        'latency-accepted→final',
        'latency-client place→ok/fail (history)',
        'latency-confirmed→fulfilled',
        'latency-over-time',
        'orders',
        'sales',
        'stock',
        'terminals',
        'throughput',
      ].sort(),
    );
    for (const f of figures) {
      expect(f.marks, `marks in ${f.name}`).toBeGreaterThan(0);
      expect(f.width, `width of ${f.name}`).toBeGreaterThan(300);
    }
    expect(await page.locator('[data-empty-figure]').count()).toBe(0);
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([url]);
  });

  it('shows the verdict with the evidence of each violation, the outlier and the traces', async () => {
    expect(await page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('violated');
    const text = await page.locator('#verdict').textContent();
    expect(text).toContain('1 invariant violated');
    expect(text).toContain('available is -1 for A at t1 (inventory seq 2)');
    expect(text).toContain('"committed":20');
    expect(await page.locator('[data-outlier="t6"]').count()).toBe(2);
    expect(await page.locator('[data-observed-negative="1"]').count()).toBe(1);
    const slowest = await page.locator('#slowest details.order').first().textContent();
    expect(slowest).toContain('c2/f4');
    expect(slowest).toContain('5,041 ms');
  });
});
