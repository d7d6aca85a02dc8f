/**
 * Node-RED for stockgate, embedded the documented way (`RED.init(server, settings)`, `RED.start()`)
 * with the settings of flows/settings.cjs: the editor at `/` (adminAuth), the dashboard at
 * `/dashboard` and the analysis reports at `/reports` (both behind HTTP basic auth, the operator's
 * identity).
 *
 * Embedding rather than running red.js gives what a supervised child needs: it listens only once the
 * flows run, then tells its supervisor (IPC `{ready, port, ...}`: port 0 works), and stops cleanly on
 * the supervisor's `stop`, SIGINT or SIGTERM. `npm start` runs it; by hand: `npx tsx flows/launch.ts`.
 *
 * Imports nothing of stockgate: flows talk to the system over MQTT only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
interface ExpressApp extends Handler {
  use(path: string, ...handlers: Handler[]): void;
  disable(name: string): void;
}
interface Express {
  (): ExpressApp;
  static(root: string, opts?: Record<string, unknown>): Handler;
}
interface NodeRed {
  init(server: ReturnType<typeof createServer>, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: Handler;
  httpNode: Handler;
  events: { once(event: string, fn: () => void): void };
  log: { info(msg: string): void; error(msg: string): void };
}
interface Settings extends Record<string, unknown> {
  uiHost: string;
  uiPort: number;
  httpAdminRoot: string;
  httpNodeRoot: string;
  httpNodeAuth: { user: string; pass: string };
  httpStatic: { path: string; root: string }[];
  stockgate: { reportsDir: string };
}

const started = Date.now();
const settings = require('./settings.cjs') as Settings;
const RED = require('node-red') as NodeRed;
const nodeRedDir = dirname(require.resolve('node-red'));
// Node-RED's own express (it ships its own version), so the apps mount into each other cleanly.
const express = require(require.resolve('express', { paths: [nodeRedDir] })) as Express;
const bcrypt = require('bcryptjs') as { compare(pw: string, hash: string): Promise<boolean> };

/** HTTP basic auth against a bcrypt hash; a header that passed once is not checked again. */
function basicAuth(user: string, hash: string): Handler {
  const good = new Set<string>();
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const deny = () => {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', 'Basic realm="stockgate"');
      res.end('Unauthorized\n');
    };
    if (good.has(header)) return next();
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    if (!m) return deny();
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || decoded.slice(0, colon) !== user) return deny();
    bcrypt.compare(decoded.slice(colon + 1), hash).then(
      (ok) => {
        if (!ok) return deny();
        if (good.size < 100) good.add(header);
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

const app = express();
app.disable('x-powered-by');
const server = createServer((req, res) => app(req, res, () => undefined));
RED.init(server, settings);
const auth = basicAuth(settings.httpNodeAuth.user, settings.httpNodeAuth.pass);
app.use(settings.httpAdminRoot, RED.httpAdmin);
for (const s of settings.httpStatic) app.use(s.root, auth, express.static(s.path, { index: 'index.html' }));
app.use(settings.httpNodeRoot, auth, RED.httpNode);

let stopping = false;
async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  RED.log.info(`stockgate: stopping Node-RED (${why})`);
  const timer = setTimeout(() => process.exit(1), 10_000);
  try {
    await RED.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(timer);
    process.exit(0);
  } catch (err) {
    RED.log.error(`stockgate: stop failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('disconnect', () => void stop('supervisor gone'));
process.on('message', (m) => {
  if (m === 'stop') void stop('asked by supervisor');
});

const flowsStarted = new Promise<void>((resolve) => RED.events.once('flows:started', resolve));
try {
  await RED.start();
  await flowsStarted;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.uiPort, settings.uiHost, () => resolve());
  });
} catch (err) {
  RED.log.error(`stockgate: Node-RED failed to start: ${(err as Error).message}`);
  process.exit(1);
}
const port = (server.address() as AddressInfo).port;
const base = `http://${settings.uiHost}:${port}`;
const info = {
  port,
  editor: `${base}/`,
  dashboard: `${base}/dashboard`,
  reports: `${base}/reports/latest/index.html`,
  startMs: Date.now() - started,
  rss: process.memoryUsage().rss,
};
RED.log.info(
  `stockgate: Node-RED ready in ${info.startMs} ms: editor ${info.editor}, dashboard ${info.dashboard}`,
);
process.send?.({ ready: true, ...info });
