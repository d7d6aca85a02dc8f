#!/usr/bin/env -S node --import tsx
/**
 * `stockgate <command>`: the one CLI behind the npm scripts.
 */
import { Command } from 'commander';
import { gatewayCommand } from './commands/gateway.ts';
import { simCommand } from './commands/sim.ts';
import { startCommand } from './commands/start.ts';

const program = new Command();
program
  .name('stockgate')
  .description('an e-commerce back office at the edge: MQTT gateway, stock terminals, simulators')
  .showHelpAfterError();

startCommand(program);
gatewayCommand(program);
simCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`stockgate: ${err.message}\n`);
  process.exit(1);
});
