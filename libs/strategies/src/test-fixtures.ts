/**
 * Hand-made devices for the unit tests: small grids with a smooth, physically shaped model
 * (time ∝ 1/clock, power rising super-linearly), where the optimum is found by brute force with
 * core's own SPEC §2 functions.
 */
import {
  bestBatchSizes,
  compareEvaluations,
  validateProblem,
  type BatchChoice,
  type Measurement,
  type PowerMode,
  type PowerModeGrid,
  type Problem,
  type ProblemInput,
} from '@fulcrum/core';
import { createModelBackend } from './synthetic.js';
import type { ProfileBackend } from './profiler.js';
import type { MeasurementTable } from './table.js';
import { tableKeyOf } from './table.js';

export const SMALL_GRID: PowerModeGrid = {
  cores: [2, 4, 8],
  cpuMhz: [800, 1400, 2000],
  gpuMhz: [300, 500, 700, 900, 1100, 1300],
  emcMhz: [665.6, 2133, 3199],
};

/** A bigger one for the searches (GMD, ALS, BO): 6 × 10 × 13 × 4 = 3,120 modes. */
export const MEDIUM_GRID: PowerModeGrid = {
  cores: [2, 4, 6, 8, 10, 12],
  cpuMhz: [422.4, 652.8, 883.2, 1113.6, 1344, 1574.4, 1804.8, 2035.2, 2201.6, 729.6].sort((a, b) => a - b),
  gpuMhz: [114.75, 216.75, 318.75, 420.75, 522.75, 624.75, 726.75, 828.75, 930.75, 1032.75, 1134.75, 1236.75, 1300.5],
  emcMhz: [204, 665.6, 2133, 3199],
};

/** Per-workload scale of compute, memory and CPU work. */
const WORKLOAD_SHAPES: Record<string, { compute: number; memory: number; cpu: number; watts: number }> = {
  resnet18: { compute: 1, memory: 0.5, cpu: 0.3, watts: 1 },
  mobilenet: { compute: 0.4, memory: 0.6, cpu: 0.5, watts: 0.8 },
  'bert-base': { compute: 2, memory: 1.2, cpu: 0.2, watts: 1.2 },
};

function shape(workload: string): { compute: number; memory: number; cpu: number; watts: number } {
  const s = WORKLOAD_SHAPES[workload];
  if (!s) throw new Error(`test model has no workload ${workload}`);
  return s;
}

function minibatch(mode: PowerMode, workload: string, samples: number, trainFactor: number): Measurement {
  const w = shape(workload);
  const gpu = mode.gpuMhz / 1000;
  const emc = mode.emcMhz / 1000;
  const cpu = mode.cpuMhz / 1000;
  const timeS =
    trainFactor * samples * (0.004 * w.compute / gpu + 0.002 * w.memory / emc) + (0.004 * w.cpu) / (cpu * Math.sqrt(Math.min(mode.cores, 6) / 2));
  const util = Math.min(1, 0.5 + samples / 64);
  const powerW = 4 + w.watts * (9 * util * gpu ** 1.7 + 2.2 * emc) + 0.35 * mode.cores * cpu ** 1.5;
  return { timeS, powerW };
}

export function handMadeBackend(options: { grid?: PowerModeGrid; noiseFraction?: number; seed?: number; modes?: PowerMode[] } = {}): ProfileBackend & {
  readonly measureCalls: number;
} {
  const grid = options.grid ?? SMALL_GRID;
  return createModelBackend({
    deviceId: 'orin-agx',
    ...(options.modes ? { modes: options.modes } : { grid }),
    presets: [
      { name: 'MAXN', mode: { cores: Math.max(...grid.cores), cpuMhz: Math.max(...grid.cpuMhz), gpuMhz: Math.max(...grid.gpuMhz), emcMhz: Math.max(...grid.emcMhz) } },
      { name: 'LOW', mode: { cores: grid.cores[0]!, cpuMhz: grid.cpuMhz[1]!, gpuMhz: grid.gpuMhz[1]!, emcMhz: grid.emcMhz[1]! } },
    ],
    train: (mode, workload, b) => minibatch(mode, workload, b, 3),
    infer: (mode, workload, b) => minibatch(mode, workload, b, 1),
    noiseFraction: options.noiseFraction ?? 0,
    seed: options.seed ?? 11,
  });
}

export function problem(input: Partial<ProblemInput> & { power: number; rate?: number; latency?: number; infer?: string }): Problem {
  return validateProblem({
    device: 'orin-agx',
    trainWorkload: 'resnet18',
    trainBatchSize: 16,
    powerBudgetW: input.power,
    powerSemantics: input.powerSemantics ?? 'peak',
    streams: input.streams ?? [{ name: 'cam', workload: input.infer ?? 'mobilenet', arrivalRatePerS: input.rate ?? 20, latencyBudgetS: input.latency ?? 1 }],
  });
}

/** The exhaustive optimum with core's functions (the reference the fast paths must match). */
export function bruteForce(p: Problem, truth: MeasurementTable, indices: ArrayLike<number>): { modeIndex: number; choice: BatchChoice } {
  let best: { modeIndex: number; choice: BatchChoice } | undefined;
  for (let j = 0; j < indices.length; j++) {
    const m = indices[j]!;
    const c = bestBatchSizes(p, { timeS: truth.trainTimeS[m]!, powerW: truth.trainPowerW[m]! }, (s, b) => {
      const bi = p.streams[s]!.candidateBatchSizes.indexOf(b);
      const t = truth.inferTimeS[s]![bi]![m]!;
      return Number.isNaN(t) ? undefined : { timeS: t, powerW: truth.inferPowerW[s]![bi]![m]! };
    });
    if (c && (!best || compareEvaluations(c.evaluation, best.choice.evaluation) < 0)) best = { modeIndex: m, choice: c };
  }
  return best!;
}

export function truthOf(backend: ProfileBackend, p: Problem): MeasurementTable {
  return backend.groundTruth!(tableKeyOf(p));
}
