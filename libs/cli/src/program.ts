import { ValidationError } from '@fulcrum/core';
import { Command, CommanderError } from 'commander';
import { registerDeviceCommands } from './commands/device.js';
import { registerDeviceJetsonCommands } from './commands/device-jetson.js';
import { registerModelCommand } from './commands/model.js';
import { registerBoardsCommand } from './commands/boards.js';
import { registerTopCommand } from './commands/top.js';
import { registerSolveCommand } from './commands/solve.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerProfilesCommands } from './commands/profiles.js';
import { registerRunCommand } from './commands/run.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerServeCommand } from './commands/serve.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerWorkloadCommands } from './commands/workload.js';
import { processIo, type CliIo } from './io.js';
import { CommandError, UsageError } from './usage.js';

/** The `fulcrum` command tree. Each command group lives in its own module under commands/. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('fulcrum')
    .description('Plan and run concurrent DNN training and latency-bound inference on Nvidia Jetson boards.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  registerModelCommand(program, io);
  registerSolveCommand(program, io);
  registerBoardsCommand(program, io);
  registerTopCommand(program, io);
  registerBenchCommand(program, io);
  registerRunCommand(program, io);
  registerSimulateCommand(program, io);
  registerDeviceCommands(program, io);
  registerDeviceJetsonCommands(program, io);
  registerProfilesCommands(program, io);
  registerServeCommand(program, io);
  registerDemoCommand(program, io);
  registerWorkloadCommands(program, io);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** Runs the CLI and returns the exit code: 0 done, 2 bad input, 1 anything else. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every parse error (unknown flag, bad value, missing flag) is a usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ValidationError) {
      // Bad input that a library caught (a manifest, a table): a usage error naming the field.
      io.stderr(`fulcrum: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError || err instanceof CommandError) {
      io.stderr(`fulcrum: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`fulcrum: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
