/**
 * The virtual Jetson (@fulcrum/devices) as the executor's simulated device: minibatch times for
 * the simulated runner, and a set of profiled modes to plan and re-plan from.
 */
import { getGrid, type PowerMode, type Problem } from '@fulcrum/core';
import type { DeviceBackend } from '@fulcrum/devices';
import type { ProfiledMode } from './replan.js';
import type { MinibatchTimeSource } from './runners/simulated.js';

/**
 * Minibatch times from a device backend. `noisy: false` (default) uses the noise-free ground truth;
 * `true` draws a seeded measurement per minibatch (repeat = minibatch count), like a real board.
 */
export function backendTimeSource(backend: DeviceBackend, problem: Problem, options: { noisy?: boolean } = {}): MinibatchTimeSource {
  const workloadOf = new Map(problem.streams.map((s) => [s.name, s.workload]));
  let repeat = 0;
  const time = (mode: PowerMode | undefined, workload: string, kind: 'train' | 'infer', batchSize: number): number => {
    if (!mode) throw new Error('virtual device: the plan has no power mode');
    const q = { mode, workload, kind, batchSize };
    return (options.noisy ? backend.measure(q, { repeat: ++repeat }) : backend.groundTruth(q)).timeMs / 1000;
  };
  return {
    trainTimeS: (mode, b) => time(mode, problem.trainWorkload, 'train', b),
    inferTimeS: (stream, mode, b) => time(mode, workloadOf.get(stream) ?? stream, 'infer', b),
  };
}

/**
 * Every mode of a grid (default the 441-mode sub-grid), measured once per (workload, batch size)
 * with the backend's noise, as a front to plan and re-plan from with no further profiling. An ALS
 * front from @fulcrum/strategies is the same shape (a list of profiled modes).
 */
export function backendModes(backend: DeviceBackend, problem: Problem, gridName = '441'): ProfiledMode[] {
  const grid = getGrid(backend.device, gridName, 'grid');
  const train = backend.measureTable(problem.trainWorkload, 'train', problem.trainBatchSize, grid);
  const infer = problem.streams.map((s) => new Map(s.candidateBatchSizes.map((b) => [b, backend.measureTable(s.workload, 'infer', b, grid)])));
  const out: ProfiledMode[] = [];
  for (let i = 0; i < train.index.size; i++) {
    if (!Number.isFinite(train.timeMs[i]!)) continue;
    out.push({
      mode: train.index.modeAt(i),
      training: { timeS: train.timeMs[i]! / 1000, powerW: train.powerW[i]! },
      inference: (k, b) => {
        const t = infer[k]?.get(b);
        if (!t || !Number.isFinite(t.timeMs[i]!)) return undefined;
        return { timeS: t.timeMs[i]! / 1000, powerW: t.powerW[i]! };
      },
    });
  }
  return out;
}
