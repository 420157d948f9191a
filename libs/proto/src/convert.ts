/**
 * Proto ↔ domain, in one place: an `xFromProto` / `xToProto` pair for every message the services
 * and the CLI exchange. `xFromProto` checks what it reads and throws core's `ValidationError`
 * naming the field by its path in the request as a client wrote it, in camelCase:
 * `problem.streams[1].latencyBudgetS`, `problem.trainWorkload.name`, `plan.mode.gpuMhz`,
 * `results[3].kind`. The gRPC adapters turn that into INVALID_ARGUMENT with an ErrorDetail
 * trailer; a client that reads a peer's answer turns it into INTERNAL (the peer broke the contract).
 *
 * proto3 cannot tell an unset scalar from 0, so the defaults are the contract's own (each is
 * named in its .proto): `train_batch_size` 0 is the workload's default, an empty
 * `candidate_batch_sizes` is 1…64, `power_semantics` UNSPECIFIED is PEAK. A missing required
 * message (a mode, a problem) or an UNSPECIFIED enum where the contract needs a value is refused,
 * never filled in.
 */
import {
  BUILTIN_CATALOG,
  PROBLEM_LIMITS,
  requireBatchSize,
  requireToken,
  type Catalog,
  ValidationError,
  isValidationError,
  validateProblem,
  type ConstraintKind,
  type Evaluation,
  type PowerMode,
  type PowerModeGrid,
  type PowerSemantics,
  type Problem,
  type ProblemInput,
  type ProfileRequest,
  type ProfileResult,
  type ProfilesQuery,
  type RunPlan,
  type WorkloadKind,
} from '@fulcrum/core';
import { describeValue, requireWindowWeightsSquared } from '@fulcrum/core/internal';
import * as common from './gen/fulcrum/common/v1/common.js';
import * as device from './gen/fulcrum/device/v1/device.js';
import * as executor from './gen/fulcrum/executor/v1/executor.js';
import * as optimizer from './gen/fulcrum/optimizer/v1/optimizer.js';
import * as profiler from './gen/fulcrum/profiler/v1/profiler.js';

/** Runs `fn`, prefixing the field of a ValidationError it throws with `prefix.`. */
export function withinField<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isValidationError(err)) throw err.renamed(prefix ? `${prefix}.${err.field}` : err.field);
    throw err;
  }
}

function enumName(names: Record<number, string>, value: number): string {
  return names[value] ?? describeValue(value);
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined || value === null) throw new ValidationError(field, 'is required');
  return value;
}

function text(value: string, field: string): string {
  if (!value) throw new ValidationError(field, 'is required');
  return value;
}

function positiveInt(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new ValidationError(field, `must be a positive integer, got ${describeValue(value)}`);
  return value;
}

function positive(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ValidationError(field, `must be a positive number, got ${describeValue(value)}`);
  return value;
}

function nonNegative(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) throw new ValidationError(field, `must be a number ≥ 0, got ${describeValue(value)}`);
  return value;
}

function date(value: Date | undefined, field: string): Date {
  const d = required(value, field);
  if (Number.isNaN(d.getTime())) throw new ValidationError(field, 'is not a valid timestamp');
  return d;
}

// ---------------------------------------------------------------- enums

const KIND_TO_PROTO: Record<WorkloadKind, common.WorkloadKind> = { train: common.WorkloadKind.WORKLOAD_KIND_TRAIN, infer: common.WorkloadKind.WORKLOAD_KIND_INFER };

export function workloadKindToProto(kind: WorkloadKind): common.WorkloadKind {
  return KIND_TO_PROTO[kind];
}

/** TRAIN or INFER; UNSPECIFIED (or an unknown value) is refused. */
export function workloadKindFromProto(kind: common.WorkloadKind | undefined, field: string): WorkloadKind {
  if (kind === common.WorkloadKind.WORKLOAD_KIND_TRAIN) return 'train';
  if (kind === common.WorkloadKind.WORKLOAD_KIND_INFER) return 'infer';
  throw new ValidationError(field, `must be WORKLOAD_KIND_TRAIN or WORKLOAD_KIND_INFER, got ${enumName(common.WorkloadKind, kind ?? 0)}`);
}

/** A filter's kind: UNSPECIFIED means any (undefined); an unknown value is refused. */
export function optionalWorkloadKindFromProto(kind: common.WorkloadKind | undefined, field: string): WorkloadKind | undefined {
  if (kind === undefined || kind === common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED) return undefined;
  return workloadKindFromProto(kind, field);
}

export function powerSemanticsToProto(semantics: PowerSemantics): common.PowerSemantics {
  return semantics === 'average' ? common.PowerSemantics.POWER_SEMANTICS_AVERAGE : common.PowerSemantics.POWER_SEMANTICS_PEAK;
}

/** PEAK, AVERAGE, or UNSPECIFIED (= PEAK, the contract's default). */
export function powerSemanticsFromProto(semantics: common.PowerSemantics, field: string): PowerSemantics {
  switch (semantics) {
    case common.PowerSemantics.POWER_SEMANTICS_UNSPECIFIED:
    case common.PowerSemantics.POWER_SEMANTICS_PEAK:
      return 'peak';
    case common.PowerSemantics.POWER_SEMANTICS_AVERAGE:
      return 'average';
    default:
      throw new ValidationError(field, `must be POWER_SEMANTICS_PEAK or POWER_SEMANTICS_AVERAGE, got ${describeValue(semantics)}`);
  }
}

const CONSTRAINT_TO_PROTO: Record<ConstraintKind, common.Constraint> = {
  stability: common.Constraint.CONSTRAINT_STABILITY,
  latency: common.Constraint.CONSTRAINT_LATENCY,
  power: common.Constraint.CONSTRAINT_POWER,
};

export function constraintToProto(kind: ConstraintKind | undefined): common.Constraint {
  return kind ? CONSTRAINT_TO_PROTO[kind] : common.Constraint.CONSTRAINT_UNSPECIFIED;
}

/** undefined for UNSPECIFIED; an unknown value is refused. */
export function constraintFromProto(c: common.Constraint, field: string): ConstraintKind | undefined {
  switch (c) {
    case common.Constraint.CONSTRAINT_UNSPECIFIED:
      return undefined;
    case common.Constraint.CONSTRAINT_STABILITY:
      return 'stability';
    case common.Constraint.CONSTRAINT_LATENCY:
      return 'latency';
    case common.Constraint.CONSTRAINT_POWER:
      return 'power';
    default:
      throw new ValidationError(field, `unknown constraint ${describeValue(c)}`);
  }
}

/** Strategies with a profiling budget (`gmd-12`, `als-50`, …) and their proto value. */
const BUDGETED: Record<string, { readonly strategy: optimizer.Strategy; readonly unbudgeted: string }> = {
  gmd: { strategy: optimizer.Strategy.STRATEGY_GMD, unbudgeted: 'gmd' },
  als: { strategy: optimizer.Strategy.STRATEGY_ALS, unbudgeted: 'als-100' },
  random: { strategy: optimizer.Strategy.STRATEGY_RANDOM, unbudgeted: 'random-15' },
  powertrain: { strategy: optimizer.Strategy.STRATEGY_POWERTRAIN, unbudgeted: 'powertrain-50' },
  bo: { strategy: optimizer.Strategy.STRATEGY_BAYES_OPT, unbudgeted: 'bo-15' },
};

/**
 * A strategy registry name (`gmd`, `als-50`, `maxn`, `best-preset`, `oracle`, …) as the proto's
 * strategy and mode budget. Throws ValidationError(field) for a name the contract cannot carry.
 */
export function strategyToProto(name: string, field = 'strategy'): { strategy: optimizer.Strategy; modeBudget: number } {
  if (name === 'maxn') return { strategy: optimizer.Strategy.STRATEGY_MAXN, modeBudget: 0 };
  if (name === 'best-preset') return { strategy: optimizer.Strategy.STRATEGY_PRESET, modeBudget: 0 };
  if (name === 'oracle') return { strategy: optimizer.Strategy.STRATEGY_ORACLE, modeBudget: 0 };
  const m = /^([a-z]+)(?:-(\d+))?$/.exec(name);
  const entry = m ? BUDGETED[m[1]!] : undefined;
  if (!m || !entry) throw new ValidationError(field, `${describeValue(name)} is not a strategy of the Optimizer API (gmd, als, random, powertrain, bo with an optional -N mode budget, maxn, best-preset, oracle)`);
  return { strategy: entry.strategy, modeBudget: m[2] ? Number(m[2]) : 0 };
}

/** The registry name for a proto strategy and mode budget; undefined = the server's default. */
export function strategyFromProto(strategy: optimizer.Strategy, modeBudget: number, field = 'strategy'): string | undefined {
  if (strategy === optimizer.Strategy.STRATEGY_UNSPECIFIED) return undefined;
  if (strategy === optimizer.Strategy.STRATEGY_ORACLE) return 'oracle';
  if (strategy === optimizer.Strategy.STRATEGY_MAXN) return 'maxn';
  if (strategy === optimizer.Strategy.STRATEGY_PRESET) return 'best-preset';
  for (const [base, entry] of Object.entries(BUDGETED)) {
    if (entry.strategy === strategy) return modeBudget > 0 ? `${base}-${modeBudget}` : entry.unbudgeted;
  }
  throw new ValidationError(field, `unknown strategy ${describeValue(strategy)}`);
}

// ---------------------------------------------------------------- power modes and grids

export function powerModeToProto(mode: PowerMode): common.PowerMode {
  return { cores: mode.cores, cpuMhz: mode.cpuMhz, gpuMhz: mode.gpuMhz, emcMhz: mode.emcMhz };
}

/** Required; every knob a positive finite number (whole cores). The grid check is the device's. */
export function powerModeFromProto(mode: common.PowerMode | undefined, field: string): PowerMode {
  const m = required(mode, field);
  if (!Number.isInteger(m.cores) || m.cores <= 0) throw new ValidationError(`${field}.cores`, `must be a positive whole number of cores, got ${describeValue(m.cores)}`);
  for (const knob of ['cpuMhz', 'gpuMhz', 'emcMhz'] as const) positive(m[knob], `${field}.${knob}`);
  return { cores: m.cores, cpuMhz: m.cpuMhz, gpuMhz: m.gpuMhz, emcMhz: m.emcMhz };
}

/** An optional mode (a filter): undefined when absent, checked when present. */
export function optionalPowerModeFromProto(mode: common.PowerMode | undefined, field: string): PowerMode | undefined {
  return mode ? powerModeFromProto(mode, field) : undefined;
}

export function gridToProto(grid: PowerModeGrid): common.PowerModeGrid {
  return { cores: [...grid.cores], cpuMhz: [...grid.cpuMhz], gpuMhz: [...grid.gpuMhz], emcMhz: [...grid.emcMhz] };
}

/** Required, with at least one value of each knob. */
export function gridFromProto(grid: common.PowerModeGrid | undefined, field: string): PowerModeGrid {
  const g = required(grid, field);
  for (const knob of ['cores', 'cpuMhz', 'gpuMhz', 'emcMhz'] as const) {
    if (g[knob].length === 0) throw new ValidationError(`${field}.${knob}`, 'must list at least one value');
  }
  return { cores: [...g.cores], cpuMhz: [...g.cpuMhz], gpuMhz: [...g.gpuMhz], emcMhz: [...g.emcMhz] };
}

// ---------------------------------------------------------------- problems

export interface ProblemFromProtoOptions {
  /** Field prefix in errors; default `problem`. */
  readonly field?: string | undefined;
  /** Device for an empty `device`. */
  readonly defaultDevice?: string | undefined;
  /** GetParetoFront: an unset (0) power or latency budget means "no budget". */
  readonly budgetsOptional?: boolean | undefined;
  /** The devices and workloads the problem may name; default the built-in ones (`BUILTIN_CATALOG`). */
  readonly catalog?: Catalog | undefined;
}

/** No budget: large enough never to bind, finite so relative slacks stay numbers. */
export const UNBOUNDED = 1e12;

/** Core's names for a problem's fields, as the proto nests them. */
function problemField(field: string, prefix: string): string {
  if (field === 'trainWorkload') return `${prefix}.trainWorkload.name`;
  const stream = /^(streams\[\d+\])\.workload$/.exec(field);
  if (stream) return `${prefix}.${stream[1]}.workload.name`;
  return `${prefix}.${field}`;
}

/** A proto Problem as core's validated Problem (the contract's defaults filled). */
export function problemFromProto(p: common.Problem | undefined, options: ProblemFromProtoOptions = {}): Problem {
  const prefix = options.field ?? 'problem';
  const problem = required(p, prefix);
  const loose = options.budgetsOptional === true;
  const trainKind = problem.trainWorkload?.kind ?? common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED;
  if (trainKind !== common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED && trainKind !== common.WorkloadKind.WORKLOAD_KIND_TRAIN) {
    throw new ValidationError(`${prefix}.trainWorkload.kind`, `must be WORKLOAD_KIND_TRAIN (or unspecified), got ${enumName(common.WorkloadKind, trainKind)}`);
  }
  problem.streams.forEach((s, i) => {
    const k = s.workload?.kind ?? common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED;
    if (k !== common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED && k !== common.WorkloadKind.WORKLOAD_KIND_INFER) {
      throw new ValidationError(`${prefix}.streams[${i}].workload.kind`, `must be WORKLOAD_KIND_INFER (or unspecified), got ${enumName(common.WorkloadKind, k)}`);
    }
  });
  const semantics = powerSemanticsFromProto(problem.powerSemantics, `${prefix}.powerSemantics`);
  const noPowerBudget = loose && problem.powerBudgetW === 0;
  const noLatencyBudget = problem.streams.map((s) => loose && s.latencyBudgetS === 0);
  const input: ProblemInput = {
    ...(problem.device || options.defaultDevice ? { device: problem.device || options.defaultDevice } : {}),
    ...(problem.trainWorkload?.name ? { trainWorkload: problem.trainWorkload.name } : {}),
    ...(problem.trainBatchSize ? { trainBatchSize: problem.trainBatchSize } : {}),
    // No budget is checked as the largest one a problem may have, then stands as UNBOUNDED.
    powerBudgetW: noPowerBudget ? PROBLEM_LIMITS.maxPowerBudgetW : problem.powerBudgetW,
    powerSemantics: semantics,
    streams: problem.streams.map((s, i) => ({
      // Required on the wire: an empty name is refused, not turned into `stream<i>`.
      name: s.name,
      ...(s.workload?.name ? { workload: s.workload.name } : {}),
      arrivalRatePerS: s.arrivalRatePerS,
      latencyBudgetS: noLatencyBudget[i] ? PROBLEM_LIMITS.maxLatencyBudgetS : s.latencyBudgetS,
      ...(s.candidateBatchSizes.length > 0 ? { candidateBatchSizes: s.candidateBatchSizes } : {}),
    })),
  };
  try {
    const validated = validateProblem(input, options.catalog ?? BUILTIN_CATALOG);
    return {
      ...validated,
      ...(noPowerBudget ? { powerBudgetW: UNBOUNDED } : {}),
      streams: validated.streams.map((s, i) => (noLatencyBudget[i] ? { ...s, latencyBudgetS: UNBOUNDED } : s)),
    };
  } catch (err) {
    if (isValidationError(err)) throw err.renamed(problemField(err.field, prefix));
    throw err;
  }
}

export function problemToProto(problem: Problem): common.Problem {
  return common.Problem.fromPartial({
    device: problem.device,
    trainWorkload: { name: problem.trainWorkload, kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN },
    trainBatchSize: problem.trainBatchSize,
    powerBudgetW: problem.powerBudgetW,
    powerSemantics: powerSemanticsToProto(problem.powerSemantics),
    streams: problem.streams.map((s) => ({
      name: s.name,
      workload: { name: s.workload, kind: common.WorkloadKind.WORKLOAD_KIND_INFER },
      arrivalRatePerS: s.arrivalRatePerS,
      latencyBudgetS: s.latencyBudgetS,
      candidateBatchSizes: [...s.candidateBatchSizes],
    })),
  });
}

// ---------------------------------------------------------------- plans

/** A plan as a planner made it: the mode and batch sizes with the evaluation of SPEC §2. */
export interface EvaluatedPlan {
  readonly planId: string;
  readonly device: string;
  readonly strategy: string;
  readonly mode: PowerMode;
  /** Feasible on the measurements (no margin). */
  readonly feasible: boolean;
  readonly predicted: Evaluation;
  /** tT(m) the prediction used, seconds. */
  readonly trainTimeS: number;
  readonly createdAt: Date;
}

export function planToProto(plan: EvaluatedPlan): common.Plan {
  const p = plan.predicted;
  return common.Plan.fromPartial({
    planId: plan.planId,
    device: plan.device,
    mode: powerModeToProto(plan.mode),
    streams: p.streams.map((s) => ({ stream: s.name, batchSize: s.batchSize, predictedLatencyS: s.latencyBoundS, utilization: s.utilization })),
    predictedTrainThroughputSamplesPerS: p.trainThroughputSamplesPerS,
    predictedPowerW: p.powerW,
    utilization: p.utilization,
    feasible: plan.feasible,
    bindingConstraint: constraintToProto(p.binding.kind),
    bindingStream: p.binding.stream ?? '',
    violations: p.checks.filter((c) => !c.satisfied).map((c) => ({ constraint: constraintToProto(c.kind), stream: c.stream ?? '', value: c.value, limit: c.limit })),
    strategy: plan.strategy,
    trainTimeMs: plan.trainTimeS * 1000,
    createdAt: plan.createdAt,
  });
}

export interface PlanFromProto {
  /** What a board runs; `mode` is the plan's. */
  readonly plan: RunPlan & { readonly mode: PowerMode };
  /** The proto plan with `planId` and `device` filled in, as Status reports it. */
  readonly proto: common.Plan;
}

let planCounter = 0;

/** Longest `planId` and `strategy` of a plan (the bus events' limit for a text field). */
const MAX_PLAN_TEXT = 256;

/**
 * Checks a proto Plan against its (validated) problem: a mode, one positive batch size for every
 * problem stream and none for a stream the problem lacks, non-negative predictions, a `planId`
 * and `strategy` of at most MAX_PLAN_TEXT characters, a valid `createdAt` when set. An empty
 * `planId` gets a fresh one (`plan-<pid>-<n>`; the contract lets the caller leave it to the
 * executor). The per-stream utilisation ρk gives the predicted tI = ρk·bk/λk.
 */
export function planFromProto(p: common.Plan | undefined, problem: Problem, field = 'plan'): PlanFromProto {
  const proto = required(p, field);
  if (proto.device && proto.device !== problem.device) throw new ValidationError(`${field}.device`, `is ${describeValue(proto.device)} but the problem is for ${describeValue(problem.device)}`);
  const mode = powerModeFromProto(proto.mode, `${field}.mode`);
  const problemStreams = new Map(problem.streams.map((s) => [s.name, s]));
  const batchSizes: Record<string, number> = {};
  const inferTimeS: Record<string, number> = {};
  proto.streams.forEach((s, i) => {
    const f = `${field}.streams[${i}]`;
    const ps = problemStreams.get(s.stream);
    if (!ps) {
      throw new ValidationError(`${f}.stream`, `${describeValue(s.stream)} is not a stream of the problem (its streams: ${[...problemStreams.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none'})`);
    }
    if (batchSizes[s.stream] !== undefined) throw new ValidationError(`${f}.stream`, `stream ${describeValue(s.stream)} is planned twice`);
    batchSizes[s.stream] = requireBatchSize(`${f}.batchSize`, s.batchSize);
    nonNegative(s.utilization, `${f}.utilization`);
    nonNegative(s.predictedLatencyS, `${f}.predictedLatencyS`);
    if (s.utilization > 0) inferTimeS[s.stream] = (s.utilization * s.batchSize) / ps.arrivalRatePerS;
  });
  const missing = problem.streams.filter((s) => batchSizes[s.name] === undefined).map((s) => s.name);
  if (missing.length) throw new ValidationError(`${field}.streams`, `no batch size for problem stream${missing.length > 1 ? 's' : ''} ${missing.map((n) => JSON.stringify(n)).join(', ')}`);
  for (const key of ['trainTimeMs', 'predictedTrainThroughputSamplesPerS', 'predictedPowerW', 'utilization'] as const) nonNegative(proto[key], `${field}.${key}`);
  constraintFromProto(proto.bindingConstraint, `${field}.bindingConstraint`);
  // What the executor reports back (Status, plan.applied, executor.status) must encode: a short
  // id and strategy (the events' limit), a timestamp a Date can hold.
  for (const key of ['planId', 'strategy'] as const) {
    if (proto[key].length > MAX_PLAN_TEXT) throw new ValidationError(`${field}.${key}`, `must be at most ${MAX_PLAN_TEXT} characters, got ${proto[key].length}`);
  }
  if (proto.createdAt !== undefined) date(proto.createdAt, `${field}.createdAt`);
  const planId = proto.planId || `plan-${process.pid}-${++planCounter}`;
  const plan: RunPlan & { mode: PowerMode } = {
    planId,
    mode,
    batchSizes,
    ...(proto.trainTimeMs > 0 ? { trainTimeS: proto.trainTimeMs / 1000 } : {}),
    ...(Object.keys(inferTimeS).length ? { inferTimeS } : {}),
    ...(proto.predictedTrainThroughputSamplesPerS > 0 ? { predictedTrainThroughputSamplesPerS: proto.predictedTrainThroughputSamplesPerS } : {}),
    ...(proto.strategy ? { strategy: proto.strategy } : {}),
  };
  return { plan, proto: common.Plan.fromPartial({ ...proto, planId, device: proto.device || problem.device }) };
}

/**
 * A plan made in code (no planner's evaluation) as the proto Plan: its mode, a batch size per
 * problem stream (1 where it names none), and what it predicts — tT as `trainTimeMs`, tI as each
 * stream's utilisation ρk = λk·tI/bk (the inverse of `planFromProto`).
 */
export function runPlanToProto(problem: Problem, plan: RunPlan): common.Plan {
  return common.Plan.fromPartial({
    planId: plan.planId,
    device: problem.device,
    ...(plan.mode ? { mode: powerModeToProto(plan.mode) } : {}),
    streams: problem.streams.map((s) => {
      const batchSize = plan.batchSizes[s.name] ?? 1;
      const inferTimeS = plan.inferTimeS?.[s.name];
      return { stream: s.name, batchSize, ...(inferTimeS !== undefined ? { utilization: (s.arrivalRatePerS * inferTimeS) / batchSize } : {}) };
    }),
    ...(plan.trainTimeS !== undefined ? { trainTimeMs: plan.trainTimeS * 1000 } : {}),
    ...(plan.predictedTrainThroughputSamplesPerS !== undefined ? { predictedTrainThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS } : {}),
    ...(plan.strategy ? { strategy: plan.strategy } : {}),
  });
}

// ---------------------------------------------------------------- profile results and costs

export function profileResultToProto(r: ProfileResult): common.ProfileResult {
  return common.ProfileResult.fromPartial({
    device: r.device,
    softwareStack: r.softwareStack,
    workload: r.workload,
    kind: workloadKindToProto(r.kind),
    batchSize: r.batchSize,
    mode: powerModeToProto(r.mode),
    timeMs: r.timeMs,
    powerW: r.powerW,
    measuredAt: new Date(r.measuredAt),
    samples: r.samples,
    ...(r.timeSeMs !== undefined ? { timeSeMs: r.timeSeMs } : {}),
    ...(r.powerSeW !== undefined ? { powerSeW: r.powerSeW } : {}),
    ...(r.windows !== undefined && r.windows !== 1 ? { windows: r.windows } : {}),
    ...(r.windows !== undefined && r.windows > 1 && r.windowWeightsSquared !== undefined ? { windowWeightsSquared: r.windowWeightsSquared } : {}),
  });
}

/** Every field is required: a result without its kind, mode or time is refused, never filled in. */
export function profileResultFromProto(r: common.ProfileResult | undefined, field: string): ProfileResult {
  const result = required(r, field);
  return {
    device: text(result.device, `${field}.device`),
    softwareStack: text(result.softwareStack, `${field}.softwareStack`),
    workload: text(result.workload, `${field}.workload`),
    kind: workloadKindFromProto(result.kind, `${field}.kind`),
    batchSize: positiveInt(result.batchSize, `${field}.batchSize`),
    mode: powerModeFromProto(result.mode, `${field}.mode`),
    timeMs: positive(result.timeMs, `${field}.timeMs`),
    powerW: positive(result.powerW, `${field}.powerW`),
    measuredAt: date(result.measuredAt, `${field}.measuredAt`).toISOString(),
    samples: positiveInt(result.samples, `${field}.samples`),
    ...(result.timeSeMs !== undefined ? { timeSeMs: nonNegative(result.timeSeMs, `${field}.timeSeMs`) } : {}),
    ...(result.powerSeW !== undefined ? { powerSeW: nonNegative(result.powerSeW, `${field}.powerSeW`) } : {}),
    // Absent (or 1): one window; 0 is not a count of windows.
    ...(result.windows !== undefined && result.windows !== 1 ? { windows: positiveInt(result.windows, `${field}.windows`) } : {}),
    // Only for a combination of windows: one window's is 1 by definition.
    ...(result.windows !== undefined && result.windows > 1 && result.windowWeightsSquared !== undefined
      ? { windowWeightsSquared: requireWindowWeightsSquared(`${field}.windowWeightsSquared`, result.windowWeightsSquared, result.windows) }
      : {}),
  };
}

/**
 * What profiling cost: modes measured, modes answered from the store, re-measured windows of
 * stored modes (counted apart from modes measured; their seconds are in `profilingSeconds`),
 * seconds on the board, optimizer time.
 */
export interface Cost {
  readonly modesProfiled: number;
  readonly modesReused: number;
  readonly remeasures?: number | undefined;
  readonly profilingSeconds: number;
  readonly optimizerMs?: number | undefined;
}

export function costToProto(c: Cost): common.PlanCost {
  return { modesProfiled: c.modesProfiled, modesReused: c.modesReused, remeasures: c.remeasures ?? 0, profilingSeconds: c.profilingSeconds, optimizerMs: c.optimizerMs ?? 0 };
}

export function costFromProto(c: common.PlanCost | undefined, field: string): Required<Cost> {
  const cost = required(c, field);
  return {
    modesProfiled: cost.modesProfiled,
    modesReused: cost.modesReused,
    remeasures: cost.remeasures,
    profilingSeconds: nonNegative(cost.profilingSeconds, `${field}.profilingSeconds`),
    optimizerMs: nonNegative(cost.optimizerMs, `${field}.optimizerMs`),
  };
}

// ---------------------------------------------------------------- profiler requests

export function profileRequestToProto(input: ProfileRequest): profiler.ProfileRequest {
  return profiler.ProfileRequest.fromPartial({
    device: input.device ?? '',
    mode: powerModeToProto(input.mode),
    workloads: input.workloads.map((w) => ({ workload: { name: w.workload, kind: workloadKindToProto(w.kind) }, batchSizes: [...w.batchSizes] })),
    warmupMinibatches: input.warmupMinibatches ?? 0,
    measuredMinibatches: input.measuredMinibatches ?? 0,
    settleS: input.settleS ?? 0,
    remeasure: input.remeasure === true,
  });
}

/** 0 (unset) protocol fields become undefined: the profiler's configured defaults. */
export function profileRequestFromProto(req: profiler.ProfileRequest): ProfileRequest {
  return {
    device: req.device || undefined,
    mode: powerModeFromProto(req.mode, 'mode'),
    workloads: req.workloads.map((w, i) => ({
      workload: text(w.workload?.name ?? '', `workloads[${i}].workload.name`),
      kind: workloadKindFromProto(w.workload?.kind, `workloads[${i}].workload.kind`),
      batchSizes: w.batchSizes,
    })),
    warmupMinibatches: req.warmupMinibatches || undefined,
    measuredMinibatches: req.measuredMinibatches || undefined,
    settleS: req.settleS === 0 ? undefined : nonNegative(req.settleS, 'settleS'),
    ...(req.remeasure ? { remeasure: true } : {}),
  };
}

export function profilesQueryToProto(query: ProfilesQuery): profiler.GetProfilesRequest {
  return profiler.GetProfilesRequest.fromPartial({
    device: query.device ?? '',
    softwareStack: query.softwareStack ?? '',
    workload: query.workload ?? '',
    kind: query.kind ? workloadKindToProto(query.kind) : common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED,
    batchSize: query.batchSize,
    mode: query.mode ? powerModeToProto(query.mode) : undefined,
    pageSize: query.pageSize ?? 0,
    pageToken: query.pageToken ?? '',
  });
}

export function profilesQueryFromProto(req: profiler.GetProfilesRequest): ProfilesQuery {
  return {
    device: req.device || undefined,
    softwareStack: req.softwareStack || undefined,
    workload: req.workload || undefined,
    kind: optionalWorkloadKindFromProto(req.kind, 'kind'),
    batchSize: req.batchSize,
    mode: optionalPowerModeFromProto(req.mode, 'mode'),
    pageSize: req.pageSize || undefined,
    pageToken: req.pageToken || undefined,
  };
}

// ---------------------------------------------------------------- executor measurements

/** `RunMeasurement`: w warm-up and n measured minibatches of one (workload, kind, batch size) at the board's mode. */
export interface MeasurementRun {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly warmupMinibatches: number;
  readonly measuredMinibatches: number;
}

export function measurementRunToProto(run: MeasurementRun): executor.RunMeasurementRequest {
  return executor.RunMeasurementRequest.fromPartial({
    workload: { name: run.workload, kind: workloadKindToProto(run.kind) },
    batchSize: run.batchSize,
    warmupMinibatches: run.warmupMinibatches,
    measuredMinibatches: run.measuredMinibatches,
  });
}

export function measurementRunFromProto(req: executor.RunMeasurementRequest): MeasurementRun {
  return {
    workload: text(req.workload?.name ?? '', 'workload.name'),
    kind: workloadKindFromProto(req.workload?.kind, 'workload.kind'),
    batchSize: requireBatchSize('batchSize', req.batchSize),
    warmupMinibatches: req.warmupMinibatches,
    measuredMinibatches: positiveInt(req.measuredMinibatches, 'measuredMinibatches'),
  };
}

/** What one measurement run returned. */
export interface MeasurementOutcome {
  /** n measured minibatch times, milliseconds. */
  readonly minibatchTimesMs: readonly number[];
  /** The measured window on the board's clock (epoch ms). */
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly softwareStack: string;
  readonly runner: string;
}

export function measurementOutcomeToProto(o: MeasurementOutcome): executor.RunMeasurementResponse {
  return executor.RunMeasurementResponse.fromPartial({
    minibatchTimesMs: [...o.minibatchTimesMs],
    windowStart: new Date(o.windowStartMs),
    windowEnd: new Date(o.windowEndMs),
    softwareStack: o.softwareStack,
    runner: o.runner,
  });
}

export function measurementOutcomeFromProto(res: executor.RunMeasurementResponse): MeasurementOutcome {
  if (res.minibatchTimesMs.length === 0) throw new ValidationError('minibatchTimesMs', 'must hold at least one time');
  res.minibatchTimesMs.forEach((t, i) => positive(t, `minibatchTimesMs[${i}]`));
  return {
    minibatchTimesMs: res.minibatchTimesMs,
    windowStartMs: date(res.windowStart, 'windowStart').getTime(),
    windowEndMs: date(res.windowEnd, 'windowEnd').getTime(),
    softwareStack: res.softwareStack,
    runner: res.runner,
  };
}

// ---------------------------------------------------------------- device info

export type DeviceBackendKind = 'jetson' | 'virtual' | 'table';

const BACKEND_TO_PROTO: Record<DeviceBackendKind, device.Backend> = {
  jetson: device.Backend.BACKEND_JETSON,
  virtual: device.Backend.BACKEND_VIRTUAL,
  table: device.Backend.BACKEND_TABLE,
};

/** What a device-controller says about its board. */
export interface DeviceInfo {
  /** The board's id (its subjects' token), distinct from the device model. */
  readonly board: string;
  readonly device: string;
  readonly displayName: string;
  readonly backend: DeviceBackendKind;
  readonly softwareStack: string;
  readonly grid: PowerModeGrid;
  readonly modeCount: number;
  readonly presets: readonly { readonly name: string; readonly mode: PowerMode; readonly note?: string | undefined }[];
  /** The board's hard power cap, watts (0: none known). */
  readonly hardCapW: number;
  readonly notes: readonly string[];
}

export function deviceInfoToProto(info: DeviceInfo): device.DeviceInfo {
  return device.DeviceInfo.fromPartial({
    board: info.board,
    device: info.device,
    displayName: info.displayName,
    backend: BACKEND_TO_PROTO[info.backend],
    softwareStack: info.softwareStack,
    grid: gridToProto(info.grid),
    modeCount: info.modeCount,
    presets: info.presets.map((p) => ({ name: p.name, mode: powerModeToProto(p.mode), note: p.note ?? '' })),
    hardCapW: info.hardCapW,
    notes: info.notes.join('; '),
  });
}

export function deviceInfoFromProto(info: device.DeviceInfo | undefined, field = 'info'): DeviceInfo {
  const i = required(info, field);
  const backend = (Object.keys(BACKEND_TO_PROTO) as DeviceBackendKind[]).find((k) => BACKEND_TO_PROTO[k] === i.backend);
  if (!backend) throw new ValidationError(`${field}.backend`, `must be BACKEND_JETSON, BACKEND_VIRTUAL or BACKEND_TABLE, got ${enumName(device.Backend, i.backend)}`);
  return {
    board: requireToken(`${field}.board`, i.board, 'a board id'),
    device: text(i.device, `${field}.device`),
    displayName: i.displayName,
    backend,
    softwareStack: i.softwareStack,
    grid: gridFromProto(i.grid, `${field}.grid`),
    modeCount: i.modeCount,
    presets: i.presets.map((p, k) => ({ name: p.name, mode: powerModeFromProto(p.mode, `${field}.presets[${k}].mode`), ...(p.note ? { note: p.note } : {}) })),
    hardCapW: i.hardCapW,
    notes: i.notes ? i.notes.split('; ') : [],
  };
}

// ---------------------------------------------------------------------------------------------
// A plan's front (ApplyPlan): the profiled modes it was chosen among

/** One profiled mode of a plan's front: training and per (stream, batch size) inference measurements. */
export interface FrontModeRecord {
  readonly mode: PowerMode;
  readonly training: { readonly timeS: number; readonly powerW: number };
  readonly inference: readonly { readonly stream: string; readonly batchSize: number; readonly timeS: number; readonly powerW: number }[];
}

/** At most this many modes travel with a plan (the executor's local re-plans choose among them). */
export const MAX_FRONT_MODES = 64;

export function frontToProto(front: readonly FrontModeRecord[]): executor.FrontMode[] {
  return front.map((m) =>
    executor.FrontMode.fromPartial({
      mode: powerModeToProto(m.mode),
      trainTimeS: m.training.timeS,
      trainPowerW: m.training.powerW,
      inference: m.inference.map((i) => ({ stream: i.stream, batchSize: i.batchSize, timeS: i.timeS, powerW: i.powerW })),
    }),
  );
}

/** A plan's front, checked against its problem (streams it names, batch sizes, positive times and powers). */
export function frontFromProto(front: readonly executor.FrontMode[], problem: Problem, field = 'front'): FrontModeRecord[] {
  if (front.length > MAX_FRONT_MODES) throw new ValidationError(field, `has ${front.length} modes; at most ${MAX_FRONT_MODES}`);
  const streams = new Set(problem.streams.map((s) => s.name));
  const maxInference = problem.streams.reduce((a, s) => a + s.candidateBatchSizes.length, 0);
  return front.map((m, i) => {
    const f = `${field}[${i}]`;
    if (m.inference.length > maxInference) throw new ValidationError(`${f}.inference`, `has ${m.inference.length} entries; the problem has ${maxInference} (stream, batch size) pairs`);
    return {
      mode: powerModeFromProto(m.mode, `${f}.mode`),
      training: { timeS: positive(m.trainTimeS, `${f}.trainTimeS`), powerW: positive(m.trainPowerW, `${f}.trainPowerW`) },
      inference: m.inference.map((x, j) => {
        const g = `${f}.inference[${j}]`;
        if (!streams.has(x.stream)) throw new ValidationError(`${g}.stream`, `is not a stream of the problem: ${describeValue(x.stream)}`);
        return { stream: x.stream, batchSize: requireBatchSize(`${g}.batchSize`, x.batchSize), timeS: positive(x.timeS, `${g}.timeS`), powerW: positive(x.powerW, `${g}.powerW`) };
      }),
    };
  });
}
