import { ValidationError, describeValue, requirePositive, requirePositiveInteger } from './errors.js';
import { BUILTIN_CATALOG, type Catalog } from './catalog.js';
import { POWER_SEMANTICS, type PowerSemantics } from './model.js';
import { requireToken, type WorkloadDescriptor } from './workloads.js';

export const DEFAULT_CANDIDATE_BATCH_SIZES: readonly number[] = [1, 2, 4, 8, 16, 32, 64];

/**
 * Documented limits of one problem, enforced here and so by every service, the bus and the CLI
 * that validate problems through core (SPEC §2): inference streams per problem, candidate batch
 * sizes per stream; the largest minibatch (training or inference) anything may be asked to run
 * (a minibatch holds the GPU alone, so an unbounded one would stall every stream behind it);
 * the largest power budget: far above what any board draws (a Jetson AGX Orin peaks near
 * 60 W), so every real budget fits, while 1e308 (a typo, or a stand-in for "no budget") is refused
 * instead of planning at MAXN;
 * the largest arrival rate λ of a stream, 1,000,000 requests/s: serving it needs ρ = λ·tI(b)/b < 1,
 * under 1 µs of GPU per sample, which no DNN on a Jetson comes near (a tiny model takes tens of µs
 * per sample at its best batch), so every stream a board can serve fits many times over, while the
 * fill time (b−1)/λ stays a real number (4 ms for b = 4096) and a simulator or load generator
 * makes a countable number of arrivals (at 1e308/s its clock never advances);
 * and the largest latency budget L, 3600 s (an hour): the worst-case latency (b−1)/λ + tT + ΣtI of
 * any real plan fits (a batch of 4096 filled at 2 requests/s takes 34 minutes; a training
 * minibatch, seconds), while a budget of days is a typo or a stand-in for "no budget" (only
 * GetParetoFront has no budget: an unset one, not a huge one).
 */
export const PROBLEM_LIMITS = {
  maxStreams: 32,
  maxCandidateBatchSizes: 32,
  maxBatchSize: 4096,
  maxPowerBudgetW: 10_000,
  maxArrivalRatePerS: 1_000_000,
  maxLatencyBudgetS: 3600,
} as const;

/** A positive number ≤ `max`; past it, a ValidationError saying `must be at most <max> <why>`. */
function requirePositiveAtMost(field: string, value: unknown, max: number, why: string): number {
  const v = requirePositive(field, value);
  if (v > max) throw new ValidationError(field, `must be at most ${max} ${why}, got ${describeValue(v)}`);
  return v;
}

/** A power budget, watts: a positive number ≤ PROBLEM_LIMITS.maxPowerBudgetW. */
export function requirePowerBudgetW(field: string, value: unknown): number {
  return requirePositiveAtMost(field, value, PROBLEM_LIMITS.maxPowerBudgetW, 'W (far above what any board draws)');
}

/** A stream's arrival rate λ, requests/s: a positive number ≤ PROBLEM_LIMITS.maxArrivalRatePerS. */
export function requireArrivalRatePerS(field: string, value: unknown): number {
  return requirePositiveAtMost(field, value, PROBLEM_LIMITS.maxArrivalRatePerS, 'requests/s (far above what any board serves)');
}

/** A stream's latency budget L, seconds: a positive number ≤ PROBLEM_LIMITS.maxLatencyBudgetS. */
export function requireLatencyBudgetS(field: string, value: unknown): number {
  return requirePositiveAtMost(field, value, PROBLEM_LIMITS.maxLatencyBudgetS, 's (an hour)');
}

/**
 * A batch size (training, inference or a measurement's): a positive integer ≤ PROBLEM_LIMITS.maxBatchSize,
 * and with `workload` and `kind` also ≤ the workload's own maximum for that kind (its manifest's
 * `train.max_batch_size` / `infer.max_batch_size`: what fits the board's memory).
 */
export function requireBatchSize(field: string, value: unknown, workload?: WorkloadDescriptor, kind?: 'train' | 'infer'): number {
  const b = requirePositiveInteger(field, value);
  if (b > PROBLEM_LIMITS.maxBatchSize) throw new ValidationError(field, `must be at most ${PROBLEM_LIMITS.maxBatchSize} (the largest minibatch Fulcrum runs), got ${b}`);
  const max = workload && kind ? (kind === 'train' ? workload.maxTrainBatchSize : workload.maxInferBatchSize) : undefined;
  if (max !== undefined && b > max) throw new ValidationError(field, `must be at most ${max} for ${workload!.id} (its ${kind}.max_batch_size), got ${b}`);
  return b;
}

export interface InferenceStream {
  readonly name: string;
  readonly workload: string;
  readonly arrivalRatePerS: number;
  readonly latencyBudgetS: number;
  /** Sorted ascending, no duplicates. */
  readonly candidateBatchSizes: readonly number[];
}

/** What a user asks Fulcrum: train one workload, serve some streams, stay inside the budgets. */
export interface Problem {
  readonly device: string;
  readonly trainWorkload: string;
  /** bT, fixed for the whole problem. */
  readonly trainBatchSize: number;
  readonly powerBudgetW: number;
  readonly powerSemantics: PowerSemantics;
  readonly streams: readonly InferenceStream[];
}

/** A problem as it arrives from a user (JSON, flags, gRPC): optional fields get defaults. */
export interface ProblemInput {
  device?: string;
  trainWorkload?: string;
  trainBatchSize?: number;
  powerBudgetW?: number;
  powerSemantics?: string;
  streams?: ReadonlyArray<{
    name?: string;
    workload?: string;
    arrivalRatePerS?: number;
    latencyBudgetS?: number;
    candidateBatchSizes?: readonly number[];
  }>;
}

export function parsePowerSemantics(value: unknown, field = 'powerSemantics'): PowerSemantics {
  if (value === undefined) return 'peak';
  if (POWER_SEMANTICS.includes(value as PowerSemantics)) return value as PowerSemantics;
  throw new ValidationError(field, `must be one of ${POWER_SEMANTICS.join(', ')}, got ${describeValue(value)}`);
}

export function validateBatchSizes(value: readonly unknown[] | undefined, field: string, workload?: WorkloadDescriptor): number[] {
  if (value === undefined) {
    // The workload's own list (a user's folder, a profile table's rows), else SPEC §2's default.
    const own = workload?.defaultInferBatchSizes?.length ? workload.defaultInferBatchSizes : DEFAULT_CANDIDATE_BATCH_SIZES;
    const max = Math.min(workload?.maxInferBatchSize ?? PROBLEM_LIMITS.maxBatchSize, PROBLEM_LIMITS.maxBatchSize);
    // The candidates the workload can take (at least its maximum itself).
    const fit = [...new Set(own.filter((b) => Number.isInteger(b) && b >= 1 && b <= max))].sort((a, b) => a - b).slice(0, PROBLEM_LIMITS.maxCandidateBatchSizes);
    return fit.length ? fit : [max];
  }
  if (!Array.isArray(value) || value.length === 0) throw new ValidationError(field, 'must list at least one batch size');
  if (value.length > PROBLEM_LIMITS.maxCandidateBatchSizes) throw new ValidationError(field, `lists ${value.length} batch sizes; at most ${PROBLEM_LIMITS.maxCandidateBatchSizes}`);
  const sizes = value.map((b, i) => requireBatchSize(`${field}[${i}]`, b, workload, 'infer'));
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * Checks every field and fills defaults; throws a ValidationError naming the first bad field.
 * Device and workload names are looked up in `catalog` (default: Fulcrum's built-in boards and
 * workloads; a profile table's catalog adds the device and workloads it names).
 */
export function validateProblem(input: ProblemInput, catalog: Catalog = BUILTIN_CATALOG): Problem {
  const device = catalog.device(input.device ?? 'orin-agx', 'device').id;
  if (input.trainWorkload === undefined) throw new ValidationError('trainWorkload', 'is required');
  const train = catalog.workload(input.trainWorkload, 'trainWorkload');
  const trainBatchSize =
    input.trainBatchSize === undefined ? train.defaultTrainBatchSize : requireBatchSize('trainBatchSize', input.trainBatchSize, train, 'train');
  const powerBudgetW = requirePowerBudgetW('powerBudgetW', input.powerBudgetW);
  const powerSemantics = parsePowerSemantics(input.powerSemantics);
  const seen = new Set<string>();
  if ((input.streams?.length ?? 0) > PROBLEM_LIMITS.maxStreams) throw new ValidationError('streams', `has ${input.streams!.length} streams; at most ${PROBLEM_LIMITS.maxStreams} per problem`);
  const streams = (input.streams ?? []).map((s, i): InferenceStream => {
    const f = `streams[${i}]`;
    const name = s.name ?? `stream${i}`;
    // Stream names become NATS subject tokens: the bus's rule (TOKEN_RULE), checked here once.
    requireToken(`${f}.name`, name, 'a stream name');
    if (seen.has(name)) throw new ValidationError(`${f}.name`, `duplicate stream name ${describeValue(name)}`);
    seen.add(name);
    if (s.workload === undefined) throw new ValidationError(`${f}.workload`, 'is required');
    const workload = catalog.workload(s.workload, `${f}.workload`);
    return {
      name,
      workload: workload.id,
      arrivalRatePerS: requireArrivalRatePerS(`${f}.arrivalRatePerS`, s.arrivalRatePerS),
      latencyBudgetS: requireLatencyBudgetS(`${f}.latencyBudgetS`, s.latencyBudgetS),
      candidateBatchSizes: validateBatchSizes(s.candidateBatchSizes, `${f}.candidateBatchSizes`, workload),
    };
  });
  return { device, trainWorkload: train.id, trainBatchSize, powerBudgetW, powerSemantics, streams };
}
