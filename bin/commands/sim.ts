import { join } from 'node:path';
import type { Command } from 'commander';
import { demoCredentialsPath } from '../../gateway/auth/demo.ts';
import { defaultDataDir } from '../../gateway/config.ts';
import { ProgressLine } from '../../lib/progress.ts';
import { randomSeed } from '../../lib/random.ts';
import { ClientFleet } from '../../sim/clientFleet.ts';
import { TerminalFleet } from '../../sim/terminalFleet.ts';
import { announceReady, int, loadCredentials, num, range, runUntilSignal } from './common.ts';

function defaultUrl(): string {
  return `mqtt://127.0.0.1:${process.env.STOCKGATE_MQTT_PORT ?? 1883}`;
}

export function simCommand(program: Command): void {
  const sim = program
    .command('sim')
    .description('fleets of simulated clients and terminals, against any broker');

  sim
    .command('clients')
    .description('N customers placing orders open-loop at a given rate')
    .option('--url <url>', 'broker URL', defaultUrl())
    .option(
      '--credentials <file>',
      'credentials file (the demo-credentials.json shape)',
      demoCredentialsPath(defaultDataDir()),
    )
    .option('-n, --count <n>', 'connections', int('count', 1, 100_000), 10)
    .option('-r, --rate <orders/s>', 'total arrival rate', num('rate'), 5)
    .option('--lines <a..b>', 'lines per order', range('lines'), [1, 3])
    .option('--qty <a..b>', 'units per line', range('qty'), [1, 3])
    .option('--cancel <share>', 'share of confirmed orders to cancel (0..1)', num('cancel'), 0)
    .option('--skus <list>', 'comma-separated SKUs (default: what the terminals advertise)')
    .option('--max-orders <n>', 'stop placing after n orders', int('max-orders', 1))
    .option('--duration <s>', 'stop after s seconds (default: until Ctrl-C)', num('duration'))
    .option('--seed <n>', 'random seed', int('seed', 0, 2 ** 32 - 1))
    .action(async (o) => {
      const seed: number = o.seed ?? randomSeed();
      const creds = loadCredentials(o.credentials as string);
      process.stderr.write(
        `sim clients: seed ${seed}, ${o.count} connections, ${o.rate} orders/s against ${o.url}\n`,
      );
      const fleet = new ClientFleet({
        url: o.url,
        clients: creds.clients,
        connections: o.count,
        ratePerS: o.rate,
        lines: o.lines,
        qty: o.qty,
        seed,
        cancelShare: o.cancel,
        ...(o.skus ? { skus: (o.skus as string).split(',') } : { catalog: creds.operator }),
        ...(o.maxOrders ? { maxOrders: o.maxOrders } : {}),
      });
      await fleet.start();
      const started = Date.now();
      const progress = new ProgressLine(() => {
        const s = fleet.stats();
        const b = s.byState;
        return `clients ${Math.round((Date.now() - started) / 1000)}s placed ${s.placed} in-flight ${s.inFlight} confirmed ${b.confirmed ?? 0} fulfilled ${b.fulfilled ?? 0} rejected ${b.rejected ?? 0} failed ${b.failed ?? 0} cancelled ${b.cancelled ?? 0} refused ${b.refused ?? 0} resends ${s.resends} accepted->confirmed p50 ${s.latencyMs.p50}ms p99 ${s.latencyMs.p99}ms`;
      });
      progress.start();
      announceReady({ seed });
      const stop = async () => {
        await fleet.stop();
        progress.stop();
      };
      if (o.duration !== undefined) {
        setTimeout(() => {
          void stop().then(() => process.exit(0));
        }, o.duration * 1000);
      }
      runUntilSignal('sim clients', stop);
    });

  sim
    .command('terminals')
    .description(
      'N stock terminals on virtual boards (the first --emulated n on emulated Unos with their panel), with picks after confirm and restocks',
    )
    .option('--url <url>', 'broker URL', defaultUrl())
    .option(
      '--credentials <file>',
      'credentials file (the demo-credentials.json shape)',
      demoCredentialsPath(defaultDataDir()),
    )
    .option('-n, --count <n>', 'terminals (the first n of the credentials file)', int('count', 1))
    .option('--data-dir <dir>', 'where the terminals keep their ledgers', join(defaultDataDir(), 'terminals'))
    .option('--skus <n>', 'distinct SKUs in the layout', int('skus', 1), 40)
    .option('--replicas <n>', 'most terminals one SKU is stocked at', int('replicas', 1), 3)
    .option('--stock <a..b>', 'initial units per terminal and SKU', range('stock'), [20, 60])
    .option('--pick-delay <a..b>', 'ms between confirm and pick', range('pick-delay'), [500, 3000])
    .option(
      '--restock-below <n>',
      'restock a SKU when fewer are available (0: never)',
      int('restock-below'),
      5,
    )
    .option('--restock-amount <n>', 'units per restock', int('restock-amount', 1), 30)
    .option('--seed <n>', 'random seed (the layout depends on it)', int('seed', 0, 2 ** 32 - 1), 1)
    .option(
      '--emulated <n>',
      'run the first n terminals on emulated Unos (real StandardFirmata on avr8js) with their panel; picks press its button',
      int('emulated', 0, 1000),
      0,
    )
    .action(async (o) => {
      const creds = loadCredentials(o.credentials as string);
      const terminals = creds.terminals.slice(0, o.count ?? creds.terminals.length);
      process.stderr.write(
        `sim terminals: seed ${o.seed}, ${terminals.length} terminals (${Math.min(o.emulated, terminals.length)} on emulated boards), ${o.skus} SKUs against ${o.url}, ledgers in ${o.dataDir}\n`,
      );
      const fleet = new TerminalFleet({
        url: o.url,
        terminals,
        dataDir: o.dataDir,
        skus: o.skus,
        maxReplicas: o.replicas,
        initialStock: o.stock,
        pickDelayMs: o.pickDelay,
        restockBelow: o.restockBelow,
        restockAmount: o.restockAmount,
        seed: o.seed,
        emulated: o.emulated,
      });
      await fleet.start();
      const progress = new ProgressLine(() => {
        const s = fleet.stats();
        const boards = s.emulated > 0 ? ` (emulated ${s.emulated}, picks pressed ${s.pressed})` : '';
        return `terminals online ${s.online}/${s.terminals} committed ${s.committed} picked ${s.picked}${boards} restocked ${s.restocked}`;
      });
      progress.start();
      announceReady({ terminals: terminals.length });
      runUntilSignal('sim terminals', async () => {
        await fleet.stop();
        progress.stop();
      });
    });
}
