/**
 * When the CLI cannot be bundled (a read-only node_modules, say), a supervised gateway still starts:
 * under tsx, with a warning.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { SupervisedChild } from '../../lib/supervisor.ts';
import { gatewayEnv } from '../helpers/run.ts';

vi.mock('../../lib/prebuilt.ts', () => ({
  prebuiltCli: () => Promise.reject(new Error('bundling the CLI for a fast start failed: EROFS')),
}));

const dataDir = mkdtempSync(join(tmpdir(), 'stockgate-prebuilt-fallback-'));
let gateway: SupervisedChild | null = null;
afterAll(async () => {
  await gateway?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

it('falls back to tsx, with a warning, when the bundle cannot be built', async () => {
  const warned = new Promise<string>((resolve) => process.once('warning', (w) => resolve(w.message)));
  gateway = new SupervisedChild({
    name: 'gateway',
    args: ['gateway'],
    env: gatewayEnv(dataDir),
    logFile: join(dataDir, 'logs', 'gateway.log'),
    prebuilt: true,
  });
  const ready = (await gateway.start()) as { ports: { mqtt: number } };
  expect(ready.ports.mqtt).toBeGreaterThan(0);
  expect(readFileSync(`/proc/${gateway.pid}/cmdline`, 'utf8')).toContain('tsx');
  expect(await warned).toMatch(/EROFS: running gateway under tsx/);
});
