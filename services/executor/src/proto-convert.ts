/**
 * Between the gRPC contracts (`fulcrum.common.v1`, ts-proto) and the domain (@fulcrum/core, the
 * executor's plan). Every check throws core's `ValidationError` naming the field as a client
 * wrote it (`problem.streams[1].latencyBudgetS`, `plan.streams[0].batchSize`, `plan.mode.gpuMhz`),
 * which the gRPC adapter turns into INVALID_ARGUMENT with an ErrorDetail trailer.
 *
 * proto3 cannot tell an unset number from 0: `train_batch_size` 0 means "the workload's default",
 * an empty `candidate_batch_sizes` means 1…64, and every other 0 is checked as a value (a power
 * budget, rate or latency budget of 0 is refused).
 */
import { ValidationError, describeValue, validateProblem, type PowerMode, type Problem } from '@fulcrum/core';
import { common } from '@fulcrum/proto';
import type { ExecutorPlan } from './types.js';

function within<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValidationError) throw err.renamed(`${prefix}.${err.field}`);
    throw err;
  }
}

function kindName(kind: common.WorkloadKind): string {
  return kind === common.WorkloadKind.WORKLOAD_KIND_TRAIN ? 'TRAIN' : kind === common.WorkloadKind.WORKLOAD_KIND_INFER ? 'INFER' : String(kind);
}

/** A proto Problem as core's validated Problem (defaults filled); `defaultDevice` when `device` is empty. */
export function problemFromProto(p: common.Problem | undefined, options: { field?: string; defaultDevice?: string } = {}): Problem {
  const f = options.field ?? 'problem';
  if (!p) throw new ValidationError(f, 'is required');
  const trainKind = p.trainWorkload?.kind ?? common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED;
  if (trainKind !== common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED && trainKind !== common.WorkloadKind.WORKLOAD_KIND_TRAIN) {
    throw new ValidationError(`${f}.trainWorkload.kind`, `must be TRAIN (or unspecified), got ${kindName(trainKind)}`);
  }
  p.streams.forEach((s, i) => {
    const k = s.workload?.kind ?? common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED;
    if (k !== common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED && k !== common.WorkloadKind.WORKLOAD_KIND_INFER) {
      throw new ValidationError(`${f}.streams[${i}].workload.kind`, `must be INFER (or unspecified), got ${kindName(k)}`);
    }
  });
  return within(f, () =>
    validateProblem({
      device: p.device || options.defaultDevice,
      trainWorkload: p.trainWorkload?.name || undefined,
      trainBatchSize: p.trainBatchSize || undefined,
      powerBudgetW: p.powerBudgetW,
      powerSemantics: p.powerSemantics === common.PowerSemantics.POWER_SEMANTICS_AVERAGE ? 'average' : 'peak',
      streams: p.streams.map((s) => ({
        name: s.name || undefined,
        workload: s.workload?.name || undefined,
        arrivalRatePerS: s.arrivalRatePerS,
        latencyBudgetS: s.latencyBudgetS,
        candidateBatchSizes: s.candidateBatchSizes.length ? s.candidateBatchSizes : undefined,
      })),
    }),
  );
}

/** Core's Problem as the proto message (for clients building requests). */
export function problemToProto(problem: Problem): common.Problem {
  return common.Problem.fromPartial({
    device: problem.device,
    trainWorkload: { name: problem.trainWorkload, kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN },
    trainBatchSize: problem.trainBatchSize,
    powerBudgetW: problem.powerBudgetW,
    powerSemantics: problem.powerSemantics === 'average' ? common.PowerSemantics.POWER_SEMANTICS_AVERAGE : common.PowerSemantics.POWER_SEMANTICS_PEAK,
    streams: problem.streams.map((s) => ({
      name: s.name,
      workload: { name: s.workload, kind: common.WorkloadKind.WORKLOAD_KIND_INFER },
      arrivalRatePerS: s.arrivalRatePerS,
      latencyBudgetS: s.latencyBudgetS,
      candidateBatchSizes: [...s.candidateBatchSizes],
    })),
  });
}

/** A proto mode as core's; every knob a positive finite number (the grid check is the device's). */
export function modeFromProto(mode: common.PowerMode | undefined, field: string): PowerMode {
  if (!mode) throw new ValidationError(field, 'is required');
  if (!Number.isInteger(mode.cores) || mode.cores <= 0) throw new ValidationError(`${field}.cores`, `must be a positive whole number of cores, got ${describeValue(mode.cores)}`);
  for (const knob of ['cpuMhz', 'gpuMhz', 'emcMhz'] as const) {
    if (!Number.isFinite(mode[knob]) || mode[knob] <= 0) throw new ValidationError(`${field}.${knob}`, `must be a positive number, got ${describeValue(mode[knob])}`);
  }
  return { cores: mode.cores, cpuMhz: mode.cpuMhz, gpuMhz: mode.gpuMhz, emcMhz: mode.emcMhz };
}

export interface ConvertedPlan {
  /** What the executor runs; `mode` is the plan's (the caller may replace it with the read-back). */
  readonly plan: ExecutorPlan & { readonly mode: PowerMode };
  /** The proto plan with `planId` filled in, as Status reports it. */
  readonly proto: common.Plan;
}

let planCounter = 0;

/**
 * Checks a proto Plan against its (validated) problem: a mode, one positive batch size for every
 * problem stream and none for a stream the problem lacks, non-negative predictions. The plan's
 * per-stream utilisation ρk gives the predicted tI = ρk·bk/λk that seeds the deadline rule.
 */
export function planFromProto(p: common.Plan | undefined, problem: Problem, field = 'plan'): ConvertedPlan {
  if (!p) throw new ValidationError(field, 'is required');
  if (p.device && p.device !== problem.device) throw new ValidationError(`${field}.device`, `is ${describeValue(p.device)} but the problem is for ${describeValue(problem.device)}`);
  const mode = modeFromProto(p.mode, `${field}.mode`);
  const problemStreams = new Map(problem.streams.map((s) => [s.name, s]));
  const batchSizes: Record<string, number> = {};
  const inferTimeS: Record<string, number> = {};
  p.streams.forEach((s, i) => {
    const f = `${field}.streams[${i}]`;
    const ps = problemStreams.get(s.stream);
    if (!ps) {
      throw new ValidationError(`${f}.stream`, `${describeValue(s.stream)} is not a stream of the problem (its streams: ${[...problemStreams.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none'})`);
    }
    if (batchSizes[s.stream] !== undefined) throw new ValidationError(`${f}.stream`, `stream ${describeValue(s.stream)} is planned twice`);
    if (!Number.isInteger(s.batchSize) || s.batchSize <= 0) throw new ValidationError(`${f}.batchSize`, `must be a positive integer, got ${describeValue(s.batchSize)}`);
    if (!Number.isFinite(s.utilization) || s.utilization < 0) throw new ValidationError(`${f}.utilization`, `must be a number ≥ 0, got ${describeValue(s.utilization)}`);
    batchSizes[s.stream] = s.batchSize;
    if (s.utilization > 0) inferTimeS[s.stream] = (s.utilization * s.batchSize) / ps.arrivalRatePerS;
  });
  const missing = problem.streams.filter((s) => batchSizes[s.name] === undefined).map((s) => s.name);
  if (missing.length) throw new ValidationError(`${field}.streams`, `no batch size for problem stream${missing.length > 1 ? 's' : ''} ${missing.map((n) => JSON.stringify(n)).join(', ')}`);
  for (const key of ['trainTimeMs', 'predictedTrainThroughputSamplesPerS', 'predictedPowerW', 'utilization'] as const) {
    if (!Number.isFinite(p[key]) || p[key] < 0) throw new ValidationError(`${field}.${key}`, `must be a number ≥ 0, got ${describeValue(p[key])}`);
  }
  const planId = p.planId || `plan-${process.pid}-${++planCounter}`;
  const plan: ExecutorPlan & { mode: PowerMode } = {
    planId,
    mode,
    batchSizes,
    ...(p.trainTimeMs > 0 ? { trainTimeS: p.trainTimeMs / 1000 } : {}),
    ...(Object.keys(inferTimeS).length ? { inferTimeS } : {}),
    ...(p.predictedTrainThroughputSamplesPerS > 0 ? { predictedTrainThroughputSamplesPerS: p.predictedTrainThroughputSamplesPerS } : {}),
    ...(p.strategy ? { strategy: p.strategy } : {}),
  };
  return { plan, proto: common.Plan.fromPartial({ ...p, planId, device: p.device || problem.device }) };
}
