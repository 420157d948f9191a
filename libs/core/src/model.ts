/**
 * The interleaving model of SPEC §2: one GPU, one minibatch at a time, the batch-full trigger.
 * Everything here is closed-form; the executor's simulator checks it event by event.
 */
import { ValidationError } from './errors.js';

export type PowerSemantics = 'peak' | 'average';
export const POWER_SEMANTICS: readonly PowerSemantics[] = ['peak', 'average'];

/** Seconds per minibatch and mean watts while it runs, for one (mode, workload, batch size). */
export interface Measurement {
  readonly timeS: number;
  readonly powerW: number;
}

/** One inference stream served at a chosen batch size on the current mode. */
export interface StreamOperatingPoint {
  readonly name: string;
  /** λ, requests per second. */
  readonly arrivalRatePerS: number;
  /** L, seconds from arrival to result. */
  readonly latencyBudgetS: number;
  /** b, the inference minibatch size. */
  readonly batchSize: number;
  /** tI(m,b) and pI(m,b). */
  readonly inference: Measurement;
}

/** Everything the formulas need about one candidate plan on one power mode. */
export interface OperatingPoint {
  /** bT, samples per training minibatch. */
  readonly trainBatchSize: number;
  /** tT(m) and pT(m). */
  readonly training: Measurement;
  readonly streams: readonly StreamOperatingPoint[];
}

export interface PowerBudget {
  readonly powerBudgetW: number;
  readonly powerSemantics: PowerSemantics;
}

export type ConstraintKind = 'stability' | 'latency' | 'power';

export interface ConstraintCheck {
  readonly kind: ConstraintKind;
  /** The stream a latency constraint belongs to. */
  readonly stream?: string;
  /** ρ for stability, seconds for latency, watts for power. */
  readonly value: number;
  readonly limit: number;
  /** (limit − value) / limit: how much room is left; negative when violated. */
  readonly relativeSlack: number;
  readonly satisfied: boolean;
}

export interface StreamEvaluation {
  readonly name: string;
  readonly batchSize: number;
  /** ρk = λk·tI,k/bk, the GPU share this stream takes. */
  readonly utilization: number;
  /** Worst-case latency bound; meaningful only while the plan is stable. */
  readonly latencyBoundS: number;
  readonly latencyBudgetS: number;
}

export interface Evaluation {
  /** ρ = Σ ρk. */
  readonly utilization: number;
  readonly stable: boolean;
  readonly streams: readonly StreamEvaluation[];
  /** X = (1 − ρ)·bT/tT, samples per second; 0 when unstable. */
  readonly trainThroughputSamplesPerS: number;
  readonly powerW: number;
  readonly powerSemantics: PowerSemantics;
  readonly checks: readonly ConstraintCheck[];
  readonly feasible: boolean;
  /** The violated constraint that decides infeasibility, or the tightest one of a feasible plan. */
  readonly binding: ConstraintCheck;
}

/** Float slack for ≤ constraints, so hand-computed boundary cases count as met. */
const RELATIVE_TOLERANCE = 1e-9;

/** ρk = λ·tI(m,b)/b. */
export function streamUtilization(stream: StreamOperatingPoint): number {
  return (stream.arrivalRatePerS * stream.inference.timeS) / stream.batchSize;
}

export function totalUtilization(point: OperatingPoint): number {
  return point.streams.reduce((sum, s) => sum + streamUtilization(s), 0);
}

/**
 * Worst-case latency of stream k: fill its batch ((bk−1)/λk), wait for the training minibatch in
 * flight (tT), then one minibatch of every other stream and its own.
 */
export function worstCaseLatencyS(point: OperatingPoint, streamIndex: number): number {
  const stream = point.streams[streamIndex];
  if (!stream) throw new RangeError(`no stream at index ${streamIndex}`);
  const fillS = (stream.batchSize - 1) / stream.arrivalRatePerS;
  const inferenceS = point.streams.reduce((sum, s) => sum + s.inference.timeS, 0);
  return fillS + point.training.timeS + inferenceS;
}

/** X = (1 − ρ)·bT/tT(m); 0 once inference takes the whole GPU. */
export function trainThroughputSamplesPerS(point: OperatingPoint): number {
  const rho = totalUtilization(point);
  return (Math.max(0, 1 - rho) * point.trainBatchSize) / point.training.timeS;
}

/**
 * `peak`: the highest mean power of any minibatch kind that runs, max(pT, pI,k).
 * `average`: the time-weighted mean, (1−ρ)·pT + Σ ρk·pI,k (ρ capped at 1).
 */
export function powerDrawW(point: OperatingPoint, semantics: PowerSemantics): number {
  if (semantics === 'peak') {
    return Math.max(point.training.powerW, ...point.streams.map((s) => s.inference.powerW));
  }
  const shares = point.streams.map(streamUtilization);
  const rho = shares.reduce((a, b) => a + b, 0);
  const scale = rho > 1 ? 1 / rho : 1;
  const inferenceW = point.streams.reduce((sum, s, i) => sum + shares[i]! * scale * s.inference.powerW, 0);
  return Math.max(0, 1 - rho) * point.training.powerW + inferenceW;
}

function check(kind: ConstraintKind, value: number, limit: number, strict: boolean, stream?: string): ConstraintCheck {
  const relativeSlack = (limit - value) / limit;
  const satisfied = strict ? value < limit : relativeSlack >= -RELATIVE_TOLERANCE;
  return stream === undefined ? { kind, value, limit, relativeSlack, satisfied } : { kind, stream, value, limit, relativeSlack, satisfied };
}

function assertMeasurement(m: Measurement, field: string): void {
  if (!(m.timeS > 0) || !Number.isFinite(m.timeS)) throw new ValidationError(`${field}.timeS`, `must be a positive number, got ${m.timeS}`);
  if (!(m.powerW >= 0) || !Number.isFinite(m.powerW)) throw new ValidationError(`${field}.powerW`, `must be a number ≥ 0, got ${m.powerW}`);
}

/** Checks an operating point's numbers; the formulas assume they hold. */
export function assertOperatingPoint(point: OperatingPoint): void {
  if (!Number.isInteger(point.trainBatchSize) || point.trainBatchSize <= 0) {
    throw new ValidationError('trainBatchSize', `must be a positive integer, got ${point.trainBatchSize}`);
  }
  assertMeasurement(point.training, 'training');
  point.streams.forEach((s, i) => {
    const f = `streams[${i}]`;
    if (!(s.arrivalRatePerS > 0) || !Number.isFinite(s.arrivalRatePerS)) throw new ValidationError(`${f}.arrivalRatePerS`, `must be a positive number, got ${s.arrivalRatePerS}`);
    if (!(s.latencyBudgetS > 0) || !Number.isFinite(s.latencyBudgetS)) throw new ValidationError(`${f}.latencyBudgetS`, `must be a positive number, got ${s.latencyBudgetS}`);
    if (!Number.isInteger(s.batchSize) || s.batchSize <= 0) throw new ValidationError(`${f}.batchSize`, `must be a positive integer, got ${s.batchSize}`);
    assertMeasurement(s.inference, `${f}.inference`);
  });
}

/** Severity order: a violated check first (stability before the others), then the least room. */
function moreBinding(a: ConstraintCheck, b: ConstraintCheck): boolean {
  if (a.satisfied !== b.satisfied) return !a.satisfied;
  if (!a.satisfied && (a.kind === 'stability') !== (b.kind === 'stability')) return a.kind === 'stability';
  return a.relativeSlack < b.relativeSlack;
}

/** All of SPEC §2 for one candidate plan: utilisation, latency bounds, X, power and the verdict. */
export function evaluate(point: OperatingPoint, budget: PowerBudget): Evaluation {
  if (!(budget.powerBudgetW > 0)) throw new ValidationError('powerBudgetW', `must be a positive number, got ${budget.powerBudgetW}`);
  const rho = totalUtilization(point);
  const streams = point.streams.map((s, i): StreamEvaluation => ({
    name: s.name,
    batchSize: s.batchSize,
    utilization: streamUtilization(s),
    latencyBoundS: worstCaseLatencyS(point, i),
    latencyBudgetS: s.latencyBudgetS,
  }));
  const powerW = powerDrawW(point, budget.powerSemantics);
  const checks: ConstraintCheck[] = [
    check('stability', rho, 1, true),
    ...streams.map((s) => check('latency', s.latencyBoundS, s.latencyBudgetS, false, s.name)),
    check('power', powerW, budget.powerBudgetW, false),
  ];
  const binding = checks.reduce((worst, c) => (moreBinding(c, worst) ? c : worst));
  return {
    utilization: rho,
    stable: rho < 1,
    streams,
    trainThroughputSamplesPerS: trainThroughputSamplesPerS(point),
    powerW,
    powerSemantics: budget.powerSemantics,
    checks,
    feasible: checks.every((c) => c.satisfied),
    binding,
  };
}

/**
 * Orders candidate plans best first: feasible before infeasible; among feasible, more training
 * throughput, then less power; among infeasible, the smallest violation of the binding
 * constraint (the "closest plan"), then more throughput.
 */
export function compareEvaluations(a: Evaluation, b: Evaluation): number {
  if (a.feasible !== b.feasible) return a.feasible ? -1 : 1;
  if (!a.feasible) {
    const bySeverity = severity(a) - severity(b);
    if (bySeverity !== 0) return bySeverity;
  }
  const byThroughput = b.trainThroughputSamplesPerS - a.trainThroughputSamplesPerS;
  if (byThroughput !== 0) return byThroughput;
  return a.powerW - b.powerW;
}

/** How far an infeasible plan is from feasible; an unstable plan is worse than any stable one. */
function severity(e: Evaluation): number {
  const violations = e.checks.filter((c) => !c.satisfied);
  const worst = Math.max(...violations.map((c) => -c.relativeSlack));
  return (e.stable ? 0 : 1e6) + worst;
}
