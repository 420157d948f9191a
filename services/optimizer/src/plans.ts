/**
 * Plans as the optimizer hands them out: a strategy's choice rendered with core's SPEC §2 model
 * (`renderPlan`), an id, and a bounded registry of the plans made (what re-plans compare against
 * and what arrival-rate events refer to).
 */
import { randomUUID } from 'node:crypto';
import type { Evaluation, PowerMode, Problem } from '@fulcrum/core';
import { renderPlan, type MeasurementTable, type ModeSpace } from '@fulcrum/strategies';
import { type ModeScore } from '@fulcrum/strategies/internal';

export interface OptimizerPlan {
  readonly planId: string;
  readonly device: string;
  /** Strategy registry name, e.g. `gmd`, `als-100`, or `stored-front` for a re-plan among stored profiles. */
  readonly strategy: string;
  readonly mode: PowerMode;
  /** One per problem stream, in problem order. */
  readonly batchSizes: readonly number[];
  /** Feasible on the measurements (no margin): the plan's promise. */
  readonly feasible: boolean;
  /** Feasible with the noise safety margins too (the strategies' own criterion). */
  readonly withinSafetyMargins: boolean;
  /** X, latency bounds, power, utilisation, every constraint and the binding one. */
  readonly predicted: Evaluation;
  /** e.g. `feasible: tightest constraint is peak power 29.1 W ≤ 30 W budget`. */
  readonly verdict: string;
  /** tT(m) the prediction used, seconds. */
  readonly trainTimeS: number;
  readonly createdAt: Date;
}

/** `planId` '' for plans that are not handed out as such (best-so-far, front points). */
export function buildPlan(problem: Problem, table: MeasurementTable, choice: ModeScore, strategy: string, space: ModeSpace, planId: string = randomUUID()): OptimizerPlan {
  const rendered = renderPlan(problem, table, choice);
  return {
    planId,
    device: problem.device,
    strategy,
    mode: space.mode(choice.modeIndex),
    batchSizes: rendered.batchSizes,
    feasible: rendered.feasible,
    withinSafetyMargins: rendered.withinSafetyMargins,
    predicted: rendered.predicted,
    verdict: rendered.verdict,
    trainTimeS: table.trainTimeS[choice.modeIndex]!,
    createdAt: new Date(),
  };
}

/** Same mode and batch sizes. */
export function samePlan(a: Pick<OptimizerPlan, 'mode' | 'batchSizes'>, b: Pick<OptimizerPlan, 'mode' | 'batchSizes'>): boolean {
  return (
    a.mode.cores === b.mode.cores &&
    a.mode.cpuMhz === b.mode.cpuMhz &&
    a.mode.gpuMhz === b.mode.gpuMhz &&
    a.mode.emcMhz === b.mode.emcMhz &&
    a.batchSizes.length === b.batchSizes.length &&
    a.batchSizes.every((x, i) => x === b.batchSizes[i])
  );
}

export interface PlanRecord {
  readonly plan: OptimizerPlan;
  readonly problem: Problem;
  /** Strategy to use when this plan's problem is solved again with profiling allowed. */
  readonly strategy: string;
  readonly grid: string;
  readonly seed: number;
}

/** The last `capacity` plans, by id. */
export class PlanRegistry {
  private readonly plans = new Map<string, PlanRecord>();
  constructor(private readonly capacity = 1000) {}

  add(record: PlanRecord): void {
    this.plans.set(record.plan.planId, record);
    while (this.plans.size > this.capacity) this.plans.delete(this.plans.keys().next().value!);
  }

  get(planId: string): PlanRecord | undefined {
    return this.plans.get(planId);
  }

  get size(): number {
    return this.plans.size;
  }
}
