#!/usr/bin/env node
import { runCli, type Command } from './cli.js';
import { incidentsCommand } from './commands/incidents.js';
import { maintenanceCommand } from './commands/maintenance.js';
import { planCommand } from './commands/plan.js';
import { simulateCommand } from './commands/simulate.js';
import { statusCommand } from './commands/status.js';
import { vmCommand } from './commands/vm.js';

/** Subcommands of `ballast`; add new ones here. */
const COMMANDS: Command[] = [planCommand, maintenanceCommand, vmCommand, statusCommand, incidentsCommand, simulateCommand];

const io = {
  out: (text: string) => process.stdout.write(text),
  err: (text: string) => process.stderr.write(text),
};

process.exitCode = await runCli(process.argv.slice(2), COMMANDS, io);
