#!/usr/bin/env -S node --import tsx
/**
 * `stockgate <command>`: the one CLI behind the npm scripts.
 */
import { Command } from 'commander';
import { analyzeCommand } from './commands/analyze.ts';
import { benchCommand } from './commands/bench.ts';
import { chaosCommand } from './commands/chaos.ts';
import { flashCommand } from './commands/flash.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { provisionCommands } from './commands/provision.ts';
import { simCommand } from './commands/sim.ts';
import { startCommand } from './commands/start.ts';
import { terminalCommand } from './commands/terminal.ts';

const program = new Command();
program
  .name('stockgate')
  .description('an e-commerce back office at the edge: MQTT gateway, stock terminals, simulators')
  .showHelpAfterError();

startCommand(program);
gatewayCommand(program);
provisionCommands(program);
simCommand(program);
analyzeCommand(program);
chaosCommand(program);
terminalCommand(program);
flashCommand(program);
benchCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`stockgate: ${err.message}\n`);
  process.exit(1);
});
