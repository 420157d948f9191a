/**
 * `--workloads DIR[,DIR…]` on every command that names workloads: the user's workload folders (or
 * folders of them) join the built-in ones; `FULCRUM_WORKLOADS` adds the same way.
 */
import type { Command } from 'commander';
import { ValidationError } from '@fulcrum/core';
import { WorkloadRegistry, parseWorkloadPaths } from '@fulcrum/workloads';
import { UsageError, collect } from './usage.js';

export function addWorkloadsOption(command: Command): Command {
  return command.option('--workloads <dirs>', 'workload folders (docs/WORKLOADS.md), or folders of them, comma-separated or repeated; join the built-in workloads (also $FULCRUM_WORKLOADS)', collect);
}

/** The registry of the built-in workloads plus `--workloads` and FULCRUM_WORKLOADS; a bad folder is a usage error naming it. */
export function openRegistry(flag: readonly string[] | undefined, env: Readonly<Record<string, string | undefined>> = process.env): WorkloadRegistry {
  const paths = [...new Set([...parseWorkloadPaths(flag), ...parseWorkloadPaths(env['FULCRUM_WORKLOADS'])])];
  try {
    return WorkloadRegistry.load(paths, { field: '--workloads' });
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.field === '--workloads' ? err.message : `--workloads: ${err.message}`);
    throw err;
  }
}
