/**
 * The `workloads` section every service's config shares: `workloads.paths` (flag
 * `--workloads.paths`, env FULCRUM_WORKLOADS__PATHS, a list or a comma-separated string) and the
 * plain `FULCRUM_WORKLOADS` variable (the same list), merged.
 */
import { z } from 'zod';
import { WorkloadRegistry, parseWorkloadPaths } from './registry.js';

/** Workload folders one config may name. */
export const MAX_WORKLOAD_PATHS = 64;

export const workloadsConfigSchema = z
  .object({
    /** Workload folders (or folders of them) joining the built-in ones. */
    paths: z.preprocess((v) => (typeof v === 'string' ? parseWorkloadPaths(v) : v), z.array(z.string().min(1)).max(MAX_WORKLOAD_PATHS)).default([]),
  })
  .prefault({});

export type WorkloadsConfig = z.output<typeof workloadsConfigSchema>;

/** The config's paths plus `FULCRUM_WORKLOADS`, without repeats. */
export function workloadPaths(config: Partial<WorkloadsConfig> | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  return [...new Set([...(config?.paths ?? []), ...parseWorkloadPaths(env['FULCRUM_WORKLOADS'])])];
}

/** The registry a service runs with: the built-ins plus the config's and FULCRUM_WORKLOADS's folders. */
export function openWorkloadRegistry(config: Partial<WorkloadsConfig> | undefined, env: Readonly<Record<string, string | undefined>> = process.env): WorkloadRegistry {
  return WorkloadRegistry.load(workloadPaths(config, env), { field: 'workloads.paths' });
}
