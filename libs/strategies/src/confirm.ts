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

/**
 * ALS's: it profiles 50–150 modes, so a problem's re-measures cost it little beside them, and its
 * plans gain more from them than GMD's (issue 16's target rows bound GMD's at 3, not ALS's). Paper
 * sweep, 2.5 % noise, ALS-150 (2026-12-07): 3 / 3 (GMD's) 98.91 % feasible, mean X/X* 0.925, 2.42
 * re-measures, 24,591 s of profiling a problem; 6 / 4 99.12 %, 0.935, 4.05; 10 / 6 99.26 %, 0.941,
 * 5.51, 25,453 s (+3.5 %); 20 / 8 99.29 %, 0.944, 6.80, 25,808 s (+4.9 %). Choosing what to
 * re-measure by expected gain (X over the plan × the chance the mode passes after one more window)
 * instead of by X changed nothing (10 / 6: 99.19 %, 0.941).
 */
export const ALS_CONFIRM_OPTIONS: ConfirmOptions = { maxRemeasures: 10, maxWindows: 6 };

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
 * The modes of one answer that only their margins rule out (feasible on their measurements, not
 * with their margins), each with the X its measurements give. A mode's verdict rests on its own
 * figures alone, so the list is scored once per answer and again only for the mode a re-measure
 * moved. Modes whose training time alone keeps their X at or under `threshold` (X ≤ bT/tT whatever
 * the streams take) are not scored; a plan that falls under it rebuilds the list.
 */
class RuledOutByMargin {
  /** Per position in `modes`: the mode's X on its measurements when only its margin rules it out, else -1. */
  private readonly x: Float64Array;
  private threshold = Infinity;

  constructor(
    private readonly ctx: StrategyContext,
    private readonly obj: Objective,
    private readonly modes: readonly number[],
    private readonly scratch: ModeScore,
    private readonly bare: ModeScore,
  ) {
    this.x = new Float64Array(modes.length).fill(-1);
  }

  private score(m: number): number {
    const table = this.ctx.measured;
    if (!(this.obj.trainBatchSize / table.trainTimeS[m]! > this.threshold)) return -1;
    scoreMode(table, m, this.obj, this.ctx.margins, this.scratch);
    if (!this.scratch.measurable || this.scratch.feasible) return -1;
    scoreMode(table, m, this.obj, NO_MARGINS, this.bare);
    return this.bare.feasible ? this.bare.throughput : -1;
  }

  /** Mode m's figures moved (a re-measure): score it again. */
  moved(m: number): void {
    const i = this.modes.indexOf(m);
    if (i >= 0) this.x[i] = this.score(m);
  }

  /** The mode with the most X over `planX` (the first of equals), other than `planMode` and those at `maxWindows`; -1 if none. */
  best(planMode: number, planX: number, maxWindows: number): number {
    if (planX < this.threshold) {
      this.threshold = planX;
      for (let i = 0; i < this.modes.length; i++) this.x[i] = this.score(this.modes[i]!);
    }
    const table = this.ctx.measured;
    let pick = -1;
    let pickX = planX;
    for (let i = 0; i < this.modes.length; i++) {
      const m = this.modes[i]!;
      if (this.x[i]! > pickX && m !== planMode && Math.max(1, table.windows(m)) < maxWindows) {
        pick = m;
        pickX = this.x[i]!;
      }
    }
    return pick;
  }
}

/**
 * The mode to measure again for this problem, or -1 (see the module comment): the plan first while
 * it rests on one window, then a mode only its margin rules out, then the plan again.
 */
function nextRemeasure(ctx: StrategyContext, obj: Objective, plan: ModeScore, options: ConfirmOptions, ruledOut: RuledOutByMargin, scratch: ModeScore, doubled: SafetyMargins): number {
  const windows = Math.max(1, ctx.measured.windows(plan.modeIndex));
  const close = closeCall(ctx, obj, plan, doubled, scratch);
  // The plan's first window is the most flattered of its neighbours': see it again first.
  if (close && windows === 1) return plan.modeIndex;
  // A mode its margin alone rules out, better than the plan on its measurements.
  const pick = ruledOut.best(plan.modeIndex, plan.feasible ? plan.throughput : -1, options.maxWindows);
  if (pick >= 0) return pick;
  if (close && windows < options.maxWindows) return plan.modeIndex;
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
      let preparedMeasured: number[] | undefined;
      return {
        ...(inner.choiceTable ? { choiceTable: inner.choiceTable } : {}),
        *answer(obj: Objective) {
          const asked = new Set<number>();
          const choice = yield* noting(inner.answer(obj), asked);
          if (!active || !choice || !choice.measurable || options.maxRemeasures <= 0) return choice;
          // The prepared modes, then those this answer profiled; a mode once measured stays so.
          preparedMeasured ??= [...prepared].filter((m) => ctx.measured.has(m));
          const added = [...asked].filter((m) => !prepared.has(m) && ctx.measured.has(m));
          const modes = added.length > 0 ? [...preparedMeasured, ...added] : preparedMeasured;
          const scratch = new ModeScore(obj.streamCount);
          const ruledOut = new RuledOutByMargin(ctx, obj, modes, new ModeScore(obj.streamCount), new ModeScore(obj.streamCount));
          let plan = choice;
          for (let r = 0; r < options.maxRemeasures; r++) {
            const m = nextRemeasure(ctx, obj, plan, options, ruledOut, scratch, doubled);
            if (m < 0) break;
            yield new Remeasure([m]);
            ruledOut.moved(m);
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
