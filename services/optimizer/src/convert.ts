/**
 * Between the proto contracts (`fulcrum.common.v1`, `fulcrum.optimizer.v1`) and the domain:
 * problems (validated with core, errors named by their proto path: `problem.streams[0].latencyBudgetS`),
 * plans, costs and strategies.
 */
import { ValidationError, isValidationError, validateProblem, type ConstraintKind, type Problem, type ProblemInput } from '@fulcrum/core';
import { common, optimizer } from '@fulcrum/proto';
import type { OptimizerPlan } from './plans.js';

/** Validation errors of a problem, named as the proto request names the field. */
function problemField(field: string, prefix: string): string {
  if (field === 'trainWorkload') return `${prefix}.trainWorkload.name`;
  const stream = /^(streams\[\d+\])\.workload$/.exec(field);
  if (stream) return `${prefix}.${stream[1]}.workload.name`;
  return `${prefix}.${field}`;
}

export interface ProblemFromProtoOptions {
  /** Device for an empty `device`. */
  readonly defaultDevice: string;
  /** GetParetoFront: an unset (0) power or latency budget means "no budget". */
  readonly budgetsOptional?: boolean;
  /** Field prefix in errors (default `problem`). */
  readonly field?: string;
}

/** No budget: large enough never to bind, finite so relative slacks stay numbers. */
export const UNBOUNDED = 1e12;

export function problemFromProto(p: common.Problem | undefined, options: ProblemFromProtoOptions): Problem {
  const prefix = options.field ?? 'problem';
  if (!p) throw new ValidationError(prefix, 'is required');
  const loose = options.budgetsOptional === true;
  if (p.trainWorkload && p.trainWorkload.kind === common.WorkloadKind.WORKLOAD_KIND_INFER) {
    throw new ValidationError(`${prefix}.trainWorkload.kind`, 'the training workload must be of kind TRAIN (or unspecified)');
  }
  p.streams.forEach((s, i) => {
    if (s.workload && s.workload.kind === common.WorkloadKind.WORKLOAD_KIND_TRAIN) {
      throw new ValidationError(`${prefix}.streams[${i}].workload.kind`, 'an inference stream must be of kind INFER (or unspecified)');
    }
  });
  const input: ProblemInput = {
    device: p.device || options.defaultDevice,
    ...(p.trainWorkload?.name ? { trainWorkload: p.trainWorkload.name } : {}),
    ...(p.trainBatchSize ? { trainBatchSize: p.trainBatchSize } : {}),
    powerBudgetW: loose && p.powerBudgetW === 0 ? UNBOUNDED : p.powerBudgetW,
    powerSemantics: p.powerSemantics === common.PowerSemantics.POWER_SEMANTICS_AVERAGE ? 'average' : 'peak',
    streams: p.streams.map((s) => ({
      ...(s.name ? { name: s.name } : {}),
      ...(s.workload?.name ? { workload: s.workload.name } : {}),
      arrivalRatePerS: s.arrivalRatePerS,
      latencyBudgetS: loose && s.latencyBudgetS === 0 ? UNBOUNDED : s.latencyBudgetS,
      ...(s.candidateBatchSizes.length > 0 ? { candidateBatchSizes: s.candidateBatchSizes } : {}),
    })),
  };
  try {
    return validateProblem(input);
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

export function constraintToProto(kind: ConstraintKind | undefined): common.Constraint {
  switch (kind) {
    case 'stability':
      return common.Constraint.CONSTRAINT_STABILITY;
    case 'latency':
      return common.Constraint.CONSTRAINT_LATENCY;
    case 'power':
      return common.Constraint.CONSTRAINT_POWER;
    default:
      return common.Constraint.CONSTRAINT_UNSPECIFIED;
  }
}

export function planToProto(plan: OptimizerPlan): common.Plan {
  const p = plan.predicted;
  return common.Plan.fromPartial({
    planId: plan.planId,
    device: plan.device,
    mode: plan.mode,
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

/** The registry name (or a name with a budget, e.g. `als-50`) for a proto strategy; undefined = the default. */
export function strategyNameFromProto(s: optimizer.Strategy, modeBudget: number): string | undefined {
  const withBudget = (base: string, fallback: string): string => (modeBudget > 0 ? `${base}-${modeBudget}` : fallback);
  switch (s) {
    case optimizer.Strategy.STRATEGY_GMD:
      return withBudget('gmd', 'gmd');
    case optimizer.Strategy.STRATEGY_ALS:
      return withBudget('als', 'als-100');
    case optimizer.Strategy.STRATEGY_ORACLE:
      return 'oracle';
    case optimizer.Strategy.STRATEGY_MAXN:
      return 'maxn';
    case optimizer.Strategy.STRATEGY_PRESET:
      return 'best-preset';
    case optimizer.Strategy.STRATEGY_RANDOM:
      return withBudget('random', 'random-15');
    case optimizer.Strategy.STRATEGY_POWERTRAIN:
      return withBudget('powertrain', 'powertrain-50');
    case optimizer.Strategy.STRATEGY_BAYES_OPT:
      return withBudget('bo', 'bo-15');
    case optimizer.Strategy.STRATEGY_UNSPECIFIED:
      return undefined;
    default:
      throw new ValidationError('strategy', `unknown strategy ${String(s)}`);
  }
}
