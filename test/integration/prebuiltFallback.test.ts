/**
 * When the CLI cannot be bundled (a read-only node_modules, say), a supervised gateway still starts:
 * under tsx, with a warning.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { SupervisedChild } from '../../lib/supervisor.ts';

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
    env: {
      STOCKGATE_DATA_DIR: dataDir,
      STOCKGATE_MQTT_PORT: '0',
      STOCKGATE_WS_PORT: '0',
      STOCKGATE_HTTP_PORT: '0',
      STOCKGATE_MQTTS_PORT: '0',
      STOCKGATE_WSS_PORT: '0',
      STOCKGATE_LOG_LEVEL: 'warn',
    },
    logFile: join(dataDir, 'logs', 'gateway.log'),
    prebuilt: true,
  });
  const ready = (await gateway.start()) as { ports: { mqtt: number } };
  expect(ready.ports.mqtt).toBeGreaterThan(0);
  expect(readFileSync(`/proc/${gateway.pid}/cmdline`, 'utf8')).toContain('tsx');
  expect(await warned).toMatch(/EROFS: running gateway under tsx/);
});
