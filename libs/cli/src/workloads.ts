/**
 * `--workloads DIR[,DIR…]` on every command that names workloads: the user's workload folders (or
 * folders of them) join the built-in ones; `FULCRUM_WORKLOADS` adds the same way. On the virtual
 * board a user's folder becomes one more workload of the virtual device (`userVirtualWorkloads`:
 * its manifest's cost: section, else counted on its ONNX graph).
 */
import type { Command } from 'commander';
import { ValidationError } from '@fulcrum/core';
import type { VirtualWorkloadSpec } from '@fulcrum/devices';
import { WorkloadRegistry, parseWorkloadPaths, virtualWorkloadOf, workloadPaths } from '@fulcrum/workloads';
import { UsageError, asUsageError, collect } from './usage.js';

export function addWorkloadsOption(command: Command): Command {
  return command.option('--workloads <dirs>', 'workload folders (docs/WORKLOADS.md), or folders of them, comma-separated or repeated; join the built-in workloads (also $FULCRUM_WORKLOADS)', collect);
}

/** The folders `--workloads` and FULCRUM_WORKLOADS name, each once, in order. */
export function workloadPathsOf(flag: readonly string[] | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  return workloadPaths({ paths: parseWorkloadPaths(flag) }, env);
}

/** The registry of the built-in workloads plus `--workloads` and FULCRUM_WORKLOADS; a bad folder is a usage error naming it. */
export function openRegistry(flag: readonly string[] | undefined, env: Readonly<Record<string, string | undefined>> = process.env): WorkloadRegistry {
  const paths = workloadPathsOf(flag, env);
  try {
    return WorkloadRegistry.load(paths, { field: '--workloads' });
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.field === '--workloads' ? err.message : `--workloads: ${err.message}`);
    throw err;
  }
}

/**
 * What the virtual board needs to simulate the user's folders (built-in folders are skipped: the
 * board has their calibrated costs): those `names` names, or all of them. A folder it cannot
 * simulate (no cost: section and no ONNX file it can count) is a usage error naming the folder.
 */
export function userVirtualWorkloads(registry: WorkloadRegistry, names?: readonly string[]): VirtualWorkloadSpec[] {
  const folders = registry.userFolders().filter((f) => !names || names.includes(f.manifest.name));
  return folders.map((f) => {
    try {
      return virtualWorkloadOf(f);
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(`--workloads: ${err.message}`);
      throw err;
    }
  });
}

/**
 * A workload folder of the registry named for a kind its manifest does not have (training one
 * without `train:`, serving one without `infer:`) is a usage error on `flag`; names the registry
 * does not hold are left to the backend's catalog.
 */
export function checkWorkloadKind(registry: WorkloadRegistry, name: string, kind: 'train' | 'infer', flag: string): void {
  if (!registry.has(name)) return;
  try {
    registry.require(name, kind, flag);
  } catch (err) {
    throw asUsageError(err);
  }
}
