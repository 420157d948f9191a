/**
 * Re-measurement where a margin decides (issue 16, SPEC §4).
 *
 * A strategy that chooses among its profiled modes chooses on one measurement window per mode,
 * each mode held to margins of z·SE. Two things then go wrong on a noisy board: a mode whose
 * measurement says it beats the plan is ruled out only by its margin (its window was unlucky, or
 * merely unsure), and the chosen mode tends to be the one whose window was lucky (of many modes
 * near a budget, the best-looking is the most flattered). Measuring again settles both: a fresh
 * window is free of the first window's luck, and two windows halve the variance, so the margin
 * shrinks by √2.
 *
 * `confirmed(strategy)` wraps a strategy whose plan is the best of its profiled modes (GMD, ALS):
 * after its answer, while re-measures are left, it re-measures one mode and chooses again:
 * 1. the plan itself, while it rests on one window and is a close call (its margins are what
 *    keeps it feasible, by less than one more margin);
 * 2. else the profiled mode with the most training throughput that is feasible on its
 *    measurements but not with its margins, and would beat the plan (a margin decides);
 * 3. else the plan again, while a close call, up to `maxWindows` windows.
 * Each re-measure is a profile, charged and counted apart from new modes. Without standard errors
 * (an exact source: margins 0) or a backend that cannot measure again, nothing changes.
 */
import { ModeScore, NO_MARGINS, bestAmong, better, scoreMode, type Objective, type SafetyMargins } from './objective.js';
import { Remeasure, type PreparedStrategy, type ProfileRequest, type Profiling, type Strategy, type StrategyContext } from './strategy.js';

export interface ConfirmOptions {
  /** Most re-measures per answer. */
  readonly maxRemeasures: number;
  /** Most windows of one mode (the first included). */
  readonly maxWindows: number;
}

export const DEFAULT_CONFIRM_OPTIONS: ConfirmOptions = { maxRemeasures: 3, maxWindows: 3 };

/** Forwards a generator's requests, noting every mode it asks for. */
function* noting<T>(gen: Profiling<T>, into: Set<number>): Profiling<T> {
  for (;;) {
    const step = gen.next();
    if (step.done) return step.value;
    const request: ProfileRequest = step.value;
    for (const m of request instanceof Remeasure ? request.modes : request) into.add(m);
    yield request;
  }
}

/** Twice the margins: a plan that passes these is no close call. */
function doubledMargins(m: SafetyMargins): SafetyMargins {
  return { ...m, ...(m.z !== undefined ? { z: m.z * 2 } : {}), timeFraction: m.timeFraction * 2, powerFraction: m.powerFraction * 2 };
}

/** True when the plan passes its margins by less than one more margin (`doubled`: a close call). */
function closeCall(ctx: StrategyContext, obj: Objective, plan: ModeScore, doubled: SafetyMargins, scratch: ModeScore): boolean {
  if (!plan.feasible) return false;
  scoreMode(ctx.measured, plan.modeIndex, obj, doubled, scratch);
  // Another batch choice of the mode may pass doubled margins, at less X: still a close call.
  return !(scratch.feasible && scratch.throughput >= plan.throughput);
}

/**
 * The mode to measure again for this problem, or -1 (see the module comment): the plan first while
 * it rests on one window, then a mode only its margin rules out, then the plan again.
 */
export function nextRemeasure(ctx: StrategyContext, obj: Objective, modes: readonly number[], plan: ModeScore, options: ConfirmOptions, scratch: ModeScore, bare: ModeScore, doubled = doubledMargins(ctx.margins)): number {
  const table = ctx.measured;
  const windows = (m: number): number => Math.max(1, table.windows(m));
  const close = closeCall(ctx, obj, plan, doubled, scratch);
  // The plan's first window is the most flattered of its neighbours': see it again first.
  if (close && windows(plan.modeIndex) === 1) return plan.modeIndex;
  // A mode its margin alone rules out, better than the plan on its measurements.
  let pick = -1;
  let pickX = plan.feasible ? plan.throughput : -1;
  for (const m of modes) {
    if (m === plan.modeIndex || windows(m) >= options.maxWindows) continue;
    // X ≤ bT/tT whatever the streams take: most modes cannot beat the plan, unscored.
    if (!(obj.trainBatchSize / table.trainTimeS[m]! > pickX)) continue;
    scoreMode(table, m, obj, ctx.margins, scratch);
    if (!scratch.measurable || scratch.feasible) continue;
    scoreMode(table, m, obj, NO_MARGINS, bare);
    if (bare.feasible && bare.throughput > pickX) {
      pick = m;
      pickX = bare.throughput;
    }
  }
  if (pick >= 0) return pick;
  if (close && windows(plan.modeIndex) < options.maxWindows) return plan.modeIndex;
  return -1;
}

/** `strategy` with re-measures where a margin decides (see the module comment). */
export function confirmed(strategy: Strategy, options: ConfirmOptions = DEFAULT_CONFIRM_OPTIONS): Strategy {
  return {
    name: strategy.name,
    description: `${strategy.description}; re-measures (at most ${options.maxRemeasures} per problem) where a margin decides`,
    ...(strategy.needsGroundTruth ? { needsGroundTruth: true } : {}),
    *prepare(ctx: StrategyContext): Profiling<PreparedStrategy> {
      const prepared = new Set<number>();
      const inner = yield* noting(strategy.prepare(ctx), prepared);
      const active = ctx.canRemeasure === true;
      const doubled = doubledMargins(ctx.margins);
      return {
        ...(inner.choiceTable ? { choiceTable: inner.choiceTable } : {}),
        *answer(obj: Objective) {
          const asked = new Set(prepared);
          const choice = yield* noting(inner.answer(obj), asked);
          if (!active || !choice || !choice.measurable || options.maxRemeasures <= 0) return choice;
          const modes = [...asked].filter((m) => ctx.measured.has(m));
          const scratch = new ModeScore(obj.streamCount);
          const bare = new ModeScore(obj.streamCount);
          let plan = choice;
          for (let r = 0; r < options.maxRemeasures; r++) {
            const m = nextRemeasure(ctx, obj, modes, plan, options, scratch, bare, doubled);
            if (m < 0) break;
            yield new Remeasure([m]);
            // Only mode m's figures moved. Another mode now beats the plan when m does; the plan
            // itself re-measured is kept unless it got worse, and then the best of all is.
            const again = scoreMode(ctx.measured, m, obj, ctx.margins, scratch);
            if (m !== plan.modeIndex) {
              if (again.measurable && better(again, plan)) plan = again.clone();
            } else if (again.measurable && !better(plan, again)) plan = again.clone();
            else {
              const best = bestAmong(ctx.measured, modes, obj, ctx.margins);
              if (!best) break;
              plan = best.clone();
            }
          }
          return plan;
        },
      };
    },
  };
}
