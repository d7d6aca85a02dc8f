import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchContext, startWorker, workerScript } from '../lib/context.ts';
import { BenchSystem } from '../lib/system.ts';

const n = Number(process.argv[2] ?? 2500);
const ctx: BenchContext = {
  quick: true,
  seed: 1,
  workDir: mkdtempSync(join(tmpdir(), 'storm-')),
  outDir: '/tmp',
  stamp: 'x',
  log: console.log,
  workers: new Set(),
  procs: new Set(),
};
const sys = new BenchSystem(ctx, {
  name: 'storm',
  terminals: 1,
  skusPerTerminal: 1,
  initialStock: [1, 1],
  clients: 1,
  idleIdentities: 10,
  seed: 1,
  gatewayEnv: { STOCKGATE_MAX_CONNECTIONS: '20000' },
});
await sys.provision();
await sys.startGateway();
const w = await startWorker(ctx, { name: 'idle', script: workerScript('clients') });
const first = await w.call('idle', {
  url: sys.url,
  identities: sys.idleCreds,
  perIdentity: 1,
  runId: 'a',
  offset: 0,
});
console.log('first', first);
const t0 = performance.now();
const timer = setInterval(async () => {
  const h = await sys.health().catch(() => null);
  console.log(
    ((performance.now() - t0) / 1000).toFixed(1),
    's gateway clients',
    h?.clients,
    'worker connected',
    await w.call('idleConnected'),
  );
}, 2000);
const r = await w
  .call(
    'idle',
    { url: sys.url, identities: sys.idleCreds, perIdentity: n / 10, runId: 'b', offset: 0 },
    120_000,
  )
  .catch((e) => e.message);
console.log('storm', r, ((performance.now() - t0) / 1000).toFixed(1));
clearInterval(timer);
await w.stop();
await sys.stop();
console.log('logs', ctx.workDir);
