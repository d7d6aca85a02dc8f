/**
 * `stockgate <command>`: the one CLI behind the npm scripts.
 *
 * Only the module of the command being run is loaded (some pull in jsdom, johnny-five or the
 * whole gateway): a child process started by the supervisor, a test or a chaos run starts fast.
 * `--help` and unknown commands load them all.
 */
import { Command } from 'commander';

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  start: () => import('./commands/start.ts').then((m) => m.startCommand),
  gateway: () => import('./commands/gateway.ts').then((m) => m.gatewayCommand),
  provision: () => import('./commands/provision.ts').then((m) => m.provisionCommands),
  sim: () => import('./commands/sim.ts').then((m) => m.simCommand),
  analyze: () => import('./commands/analyze.ts').then((m) => m.analyzeCommand),
  chaos: () => import('./commands/chaos.ts').then((m) => m.chaosCommand),
  terminal: () => import('./commands/terminal.ts').then((m) => m.terminalCommand),
  flash: () => import('./commands/flash.ts').then((m) => m.flashCommand),
  bench: () => import('./commands/bench.ts').then((m) => m.benchCommand),
};
/** Commands registered by another command's module. */
const ALIASES: Record<string, string> = { revoke: 'provision', identities: 'provision' };

const program = new Command();
program
  .name('stockgate')
  .description('an e-commerce back office at the edge: MQTT gateway, stock terminals, simulators')
  .showHelpAfterError();

async function main(): Promise<void> {
  const asked = process.argv[2] ?? '';
  const name = ALIASES[asked] ?? asked;
  const load = COMMANDS[name] ? [COMMANDS[name]] : Object.values(COMMANDS);
  for (const register of await Promise.all(load.map((l) => l()))) register(program);
  await program.parseAsync(process.argv);
}

main().catch((err: Error) => {
  process.stderr.write(`stockgate: ${err.message}\n`);
  process.exit(1);
});
