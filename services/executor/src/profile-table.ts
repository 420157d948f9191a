/**
 * A profile table (the SPEC §3 CSV, read by @fulcrum/devices) as the executor's device: the modes
 * it holds become a front to plan from (`ProfiledMode`), and its times drive the simulated runner.
 */
import { formatPowerMode, type PowerMode, type Problem, type WorkloadKind } from '@fulcrum/core';
import { toMeasurement, type ProfileTable } from '@fulcrum/devices';
import type { ProfiledMode } from './replan.js';
import type { MinibatchTimeSource } from './runners/simulated.js';

/** Every mode of the table that has the problem's training workload at bT, as a front to plan from. */
export function profiledModes(table: ProfileTable, problem: Problem): ProfiledMode[] {
  if (table.device.id !== problem.device) return [];
  const out: ProfiledMode[] = [];
  for (const mode of table.modes()) {
    const training = table.get(problem.trainWorkload, 'train', problem.trainBatchSize, mode);
    if (!training) continue;
    out.push({
      mode,
      training: toMeasurement(training),
      inference: (i, b) => {
        const sample = table.get(problem.streams[i]!.workload, 'infer', b, mode);
        return sample && toMeasurement(sample);
      },
    });
  }
  return out;
}

/**
 * Minibatch times from the table for the simulated runner. A batch size the table lacks gets the
 * next larger one's time (an upper bound); a mode it lacks is an error.
 */
export function tableTimeSource(table: ProfileTable, problem: Problem): MinibatchTimeSource {
  const workloadOf = new Map(problem.streams.map((s) => [s.name, s.workload]));
  const lookup = (mode: PowerMode | undefined, kind: WorkloadKind, workload: string, b: number): number => {
    if (!mode) throw new Error('profile table: the plan has no power mode');
    const exact = table.get(workload, kind, b, mode);
    if (exact) return exact.timeMs / 1000;
    for (const size of table.batchSizes(workload, kind)) {
      const sample = size >= b ? table.get(workload, kind, size, mode) : undefined;
      if (sample) return sample.timeMs / 1000;
    }
    throw new Error(`profile table: no ${kind} time for ${workload} at batch ≥ ${b} in mode ${formatPowerMode(mode)}`);
  };
  return {
    trainTimeS: (mode, b) => lookup(mode, 'train', problem.trainWorkload, b),
    inferTimeS: (stream, mode, b) => lookup(mode, 'infer', workloadOf.get(stream) ?? stream, b),
  };
}
