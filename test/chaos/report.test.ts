/** The analysis report of a real chaos run, opened in headless Chromium. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runAnalyze } from '../analysis/cli.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.ts';
import { runChaosCli } from './run.ts';

describe('the report of a real chaos run', () => {
  it('is written from the run, passes the checker, and opens offline with marks in every plot', async () => {
    const seed = 109;
    console.log(`chaos seed ${seed}`);
    const run = await runChaosCli(['--seed', String(seed), '--duration', '10s', '--faults', 'all'], {}, true);
    const dataDir = run.dataDir!;
    try {
      expect(run.code, run.out).toBe(0);
      const analysis = await runAnalyze(['--data', dataDir, '--history', join(dataDir, 'history.jsonl')]);
      expect(analysis.status, analysis.stderr).toBe(0);
      expect(analysis.stdout).toMatch(/verdict\s+all invariants hold/);
      const context = await chromium.launchPersistentContext(join(dataDir, 'chromium-profile'), {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
      });
      try {
        const errors: string[] = [];
        const requests: string[] = [];
        context.on('request', (r) => requests.push(r.url()));
        const page = await context.newPage();
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(e.message));
        const url = pathToFileURL(join(dataDir, 'reports', 'latest', 'index.html')).href;
        await page.goto(url, { waitUntil: 'load' });
        const figures = await page.evaluate(() =>
          [...document.querySelectorAll<HTMLElement>('[data-figure]')].map((el) => ({
            name: el.dataset.figure,
            marks: [...el.querySelectorAll('svg g[aria-label]')]
              .filter((g) => !/axis|grid|tick|frame/.test(g.getAttribute('aria-label') ?? ''))
              .reduce((n, g) => n + g.querySelectorAll('path, rect, circle, line').length, 0),
          })),
        );
        expect(figures.length).toBeGreaterThan(3);
        for (const f of figures) expect(f.marks, `${f.name} has marks`).toBeGreaterThan(0);
        expect(errors).toEqual([]);
        expect(requests.filter((r) => !r.startsWith('file:'))).toEqual([]);
      } finally {
        await context.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
