/**
 * ALS fronts from @fulcrum/strategies as the executor's re-planning front: run ALS once on a device
 * backend (profiling its 50–150 modes), then every re-plan is answered among those modes with no
 * new profiling (`FrontReplanner`).
 */
import type { Problem } from '@fulcrum/core';
import type { DeviceBackend } from '@fulcrum/devices';
import { Planner, ProfiledFront, als, fromDeviceBackend, tableKeyOf } from '@fulcrum/strategies/internal';
import type { ProfiledMode } from './replan.js';

export interface AlsFront {
  readonly modes: ProfiledMode[];
  /** Modes ALS profiled, and what that cost in (simulated) profiling seconds. */
  readonly modesProfiled: number;
  readonly profilingSeconds: number;
}

/** Profiles `budget` modes with ALS on `device` for `problem`'s workloads and returns them as a front. */
export function alsFront(device: DeviceBackend, problem: Problem, options: { budget?: number; seed?: number } = {}): AlsFront {
  const backend = fromDeviceBackend(device);
  const planner = new Planner(backend, { seed: options.seed ?? 1 });
  const key = tableKeyOf(problem);
  const handle = planner.prepareSync(als(options.budget ?? 100), key);
  if (!(handle.prepared instanceof ProfiledFront)) throw new Error('alsFront: ALS did not return a profiled front');
  const table = planner.store.cache(key).table;
  const modes: ProfiledMode[] = [];
  for (const i of handle.prepared.modes) {
    const m = table.get(i);
    if (!m) continue;
    modes.push({
      mode: backend.space.mode(i),
      training: m.training,
      inference: (k, b) => {
        const at = problem.streams[k]?.candidateBatchSizes.indexOf(b) ?? -1;
        return at < 0 ? undefined : m.inference[k]?.[at];
      },
    });
  }
  return { modes, modesProfiled: handle.charge.modes.length, profilingSeconds: handle.charge.seconds };
}
