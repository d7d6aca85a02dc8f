/**
 * `stockgate start` (`npm start`): the whole system on one machine with embedded defaults: the
 * gateway and its broker, a terminal fleet, a client fleet, and Node-RED with the dashboard and
 * the fault panel. Each runs as a child process; the gateway (and Node-RED) are restarted if they
 * die. Ctrl-C stops everything in order and exits 0.
 */
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { demoCredentialsPath, ensureDemoCredentials } from '../../gateway/auth/demo.ts';
import { loadConfig } from '../../gateway/config.ts';
import { SupervisedChild } from '../../lib/supervisor.ts';
import { int, num } from './common.ts';

interface StartOptions {
  terminals: number;
  clients: number;
  rate: number;
  skus: number;
  status: boolean;
  nodeRed: boolean;
}

/** Node-RED with stockgate's settings and flows (flows/settings.cjs, flows/flows.json). */
const NODE_RED_LAUNCHER = fileURLToPath(new URL('../../flows/launch.ts', import.meta.url));

function nodeRedPort(): number {
  const raw = process.env.STOCKGATE_NODE_RED_PORT;
  if (raw === undefined || raw === '') return 1880;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`STOCKGATE_NODE_RED_PORT must be a port number, got '${raw}'`);
  return n;
}

export function startCommand(program: Command): void {
  program
    .command('start')
    .description('run the whole system: gateway + broker, terminal fleet, client fleet (Ctrl-C stops)')
    .option('--terminals <n>', 'simulated terminals', int('terminals', 0, 1000), 8)
    .option('--clients <n>', 'simulated client connections', int('clients', 0, 10_000), 20)
    .option('--rate <orders/s>', 'client arrival rate', num('rate'), 5)
    .option('--skus <n>', 'SKUs in the terminals layout', int('skus', 1), 40)
    .option('--no-status', 'do not print a status line')
    .option('--no-node-red', 'do not start Node-RED (the dashboard and the fault panel)')
    .action(async (o: StartOptions) => {
      const config = loadConfig();
      const dataDir = config.dataDir;
      const show = (p: string) => relative(process.cwd(), p) || '.';
      const terminalIds = Array.from(
        { length: Math.max(o.terminals, 1) },
        (_, i) => `t${String(i + 1).padStart(2, '0')}`,
      );
      const creds = await ensureDemoCredentials(dataDir, {
        clients: Math.max(1, Math.min(o.clients, 20)),
        terminals: terminalIds,
      });
      const credFile = demoCredentialsPath(dataDir);
      const logs = join(dataDir, 'logs');
      const env = { STOCKGATE_DATA_DIR: dataDir };

      const gateway = new SupervisedChild({
        name: 'gateway',
        args: ['gateway'],
        env,
        logFile: join(logs, 'gateway.log'),
        prebuilt: true,
        restart: true,
      });
      const terminals = new SupervisedChild({
        name: 'terminals',
        args: [
          'sim',
          'terminals',
          '--credentials',
          credFile,
          '--count',
          String(Math.min(o.terminals, creds.terminals.length)),
          '--skus',
          String(o.skus),
          // A quarter of the terminals (at most 2) on emulated Unos running StandardFirmata, with their panel.
          '--emulated',
          String(Math.min(2, Math.floor(o.terminals / 4))),
          '--data-dir',
          join(dataDir, 'terminals'),
          '--url',
          `mqtt://${config.host}:${config.mqttPort}`,
        ],
        env,
        logFile: join(logs, 'terminals.log'),
      });
      const clients = new SupervisedChild({
        name: 'clients',
        args: [
          'sim',
          'clients',
          '--credentials',
          credFile,
          '--count',
          String(o.clients),
          '--rate',
          String(o.rate),
          '--url',
          `mqtt://${config.host}:${config.mqttPort}`,
        ],
        env,
        logFile: join(logs, 'clients.log'),
      });
      const nodeRed = new SupervisedChild({
        name: 'node-red',
        script: NODE_RED_LAUNCHER,
        args: [],
        env: {
          ...env,
          STOCKGATE_NODE_RED_PORT: String(nodeRedPort()),
          STOCKGATE_MQTT_HOST: config.host,
          STOCKGATE_MQTT_PORT: String(config.mqttPort),
        },
        logFile: join(logs, 'node-red.log'),
        restart: true,
      });
      const children = [clients, nodeRed, terminals, gateway];

      let tlsLine: string | null = null;
      let stopping = false;
      let statusTimer: NodeJS.Timeout | null = null;
      let nodeRedUrls: { editor: string; dashboard: string } | null = null;
      let nodeRedFailed: string | null = null;
      const stopAll = async (why: string, code: number) => {
        if (stopping) return;
        stopping = true;
        if (statusTimer) clearInterval(statusTimer);
        process.stderr.write(`\nstockgate: stopping (${why})...\n`);
        // Clients first, terminals next, the gateway last: nothing is left talking to a dead broker.
        for (const child of children) await child.stop();
        process.stderr.write(
          `stockgate: stopped. Data kept in ${show(dataDir)}; npm start resumes from it.\n`,
        );
        process.exit(code);
      };
      process.on('SIGINT', () => void stopAll('Ctrl-C', 0));
      process.on('SIGTERM', () => void stopAll('SIGTERM', 0));

      try {
        process.stderr.write(`stockgate: starting the gateway (data in ${show(dataDir)})...\n`);
        const gatewayReady = (await gateway.start()) as {
          ports?: { mqtts?: number; wss?: number };
          caFile?: string;
        };
        tlsLine = gatewayReady.ports?.mqtts
          ? `  TLS           mqtts://${config.host}:${gatewayReady.ports.mqtts}   wss://${config.host}:${gatewayReady.ports.wss}/mqtt   (CA ${gatewayReady.caFile ? show(gatewayReady.caFile) : 'user-supplied'})`
          : null;
        gateway.on('exit', (code, signal) => {
          if (!stopping)
            process.stderr.write(`\nstockgate: the gateway died (${signal ?? code}); restarting it\n`);
        });
        // Node-RED starts beside the terminals (it takes a second or two). Without it the orders
        // still flow: a dashboard that cannot start (port 1880 taken...) is a warning, not a failure.
        const red = o.nodeRed
          ? nodeRed.start().catch(async (err: Error) => {
              await nodeRed.stop();
              nodeRedFailed = err.message;
              return null;
            })
          : Promise.resolve(null);
        if (o.terminals > 0) await terminals.start();
        const info = await red;
        if (info) nodeRedUrls = { editor: String(info.editor), dashboard: String(info.dashboard) };
        if (o.clients > 0 && o.rate > 0) await clients.start();
      } catch (err) {
        process.stderr.write(`stockgate: ${(err as Error).message}\n`);
        await stopAll('start failed', 1);
        return;
      }

      const h = config.host;
      process.stdout.write(
        [
          '',
          'stockgate is running.',
          `  MQTT          mqtt://${h}:${config.mqttPort}   (WebSocket ws://${h}:${config.wsPort}/mqtt)`,
          ...(tlsLine ? [tlsLine] : []),
          `  health        http://${h}:${config.httpPort}/healthz   metrics http://${h}:${config.httpPort}/metrics`,
          ...(nodeRedUrls
            ? [
                `  dashboard     ${nodeRedUrls.dashboard}   (user ${creds.operator.username}, password in ${show(credFile)})`,
                `  flow editor   ${nodeRedUrls.editor}   (same user; analysis report at /reports/latest/index.html)`,
              ]
            : nodeRedFailed
              ? [`  dashboard     NOT RUNNING: Node-RED did not start (${nodeRedFailed})`]
              : []),
          `  credentials   ${show(credFile)}  (demo identities: clients, operator, terminals)`,
          `  logs          ${show(logs)}/{gateway,terminals,clients,node-red}.log`,
          `  journal       ${show(join(dataDir, 'journal.sqlite'))}`,
          `  fleet         ${o.terminals} terminals, ${o.clients} client connections at ${o.rate} orders/s`,
          '  Ctrl-C stops everything; npm start again resumes from the journal and the ledgers.',
          '',
        ].join('\n'),
      );

      if (o.status) {
        const tty = process.stderr.isTTY;
        statusTimer = setInterval(
          async () => {
            try {
              const res = await fetch(`http://${h}:${config.httpPort}/healthz`);
              const body = (await res.json()) as {
                terminals: { online: number; known: number };
                orders: { byState: Record<string, number>; open: number };
              };
              const s = body.orders.byState;
              const line = `orders: open ${body.orders.open} confirmed ${s.confirmed ?? 0} fulfilled ${s.fulfilled ?? 0} rejected ${s.rejected ?? 0} failed ${s.failed ?? 0} cancelled ${s.cancelled ?? 0} | terminals online ${body.terminals.online}/${body.terminals.known}`;
              process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
            } catch {
              process.stderr.write(
                tty
                  ? '\r\x1b[2Kgateway not answering (restarting?)'
                  : 'gateway not answering (restarting?)\n',
              );
            }
          },
          tty ? 1000 : 10_000,
        );
      }
    });
}
