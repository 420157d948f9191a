/**
 * GMD — gradient-style multi-dimensional descent over the four knobs (SPEC §5).
 *
 * 1. Profile MAXN. It is the fastest mode unless the board throttles it (or a larger batch size's
 *    power only fits below it), so when it is feasible — or misses a latency budget, when no mode
 *    could meet it — one GPU step down is profiled as a check: if that is no better, MAXN is the
 *    plan. If it is better, times are not monotone in the knobs and the search goes on without
 *    latency pruning.
 * 2. Probe down along each knob from MAXN (to the fewest cores: what a core costs and what the CPU
 *    side needs show only far from the top count; about half the CPU and GPU clock; one EMC step)
 *    and one low diagonal mode (skipped when the budget is at least
 *    `highBudgetFraction` of MAXN's peak power). A roofline-shaped model of every measured quantity
 *    (roofline.ts: time a smooth maximum of GPU, memory and CPU terms, power static + leakage +
 *    utilisation-weighted f·V² per clock domain) fitted to these modes is shared by every problem of
 *    the key that profiled the same ones.
 * 3. Jump: the mode that the model predicts best for this problem (the exact candidate fronts of
 *    front.ts over the model's predictions for every mode) is profiled next; when its measured
 *    power misses the prediction, once more with the budget scaled by predicted / measured power.
 * 4. Descend locally from the best profiled mode. The local model is the roofline model refitted to
 *    every profiled mode (nearer ones weigh more), rescaled through the anchor's measurements, and
 *    corrected by what the measurements around the anchor say the shape gets wrong (per quantity, a
 *    log-linear slope in the knobs fitted to the residuals: on a board whose laws are not the
 *    roofline's, the measured slopes take over). Candidates: one step along a knob, exchanges and
 *    diagonals (steps start at about a sixth of each knob's range and halve when no move is
 *    predicted to help), and every level along each knob (a line search to the budget's boundary)
 *    around the incumbent; and the lines downward from the near miss closest to the budget — a
 *    profiled mode that meets latency but draws a little too much power, and would beat the
 *    incumbent: the optimum sits on the boundary between them (with the near miss's exchanges and
 *    diagonals: the way back under the budget may trade one knob for another). The best predicted
 *    improvement (at least `minGain` in X over a feasible incumbent; while nothing is feasible, the
 *    largest predicted reduction of the violation) is profiled. While nothing is feasible and the
 *    model sees no way closer, the remaining profiles go to the candidates predicted closest.
 *    When the descent ends with profiles left and the model's predictions have missed (a jump's
 *    or a move's predicted power or training throughput off its measurement by more than
 *    `doubtTolerance` plus the power margin, which is what noise explains), a probe is taken again
 *    around the incumbent: the mode
 *    that moves one knob to its probe's level (the one the model rates best), at most `reprobes`
 *    times, and the descent goes on with it in the local model.
 *    Probes at MAXN can say little about the incumbent's neighbourhood: on a board that throttles,
 *    power near MAXN is held near the cap, so a knob's power saving there is a fraction of what
 *    it is below the cap.
 * 5. Monotonicity prunes: a mode whose training power alone is over the budget rules out every mode
 *    ≥ it in all knobs (peak power); a mode that misses latency for every batch size rules out every
 *    mode ≤ it (not on a board found to throttle).
 *
 * Plans come only from profiled modes, judged with the safety margins; at most `maxModes` profiles.
 */
import { ModeScore, better, scoreMode, type Objective, type SafetyMargins } from './objective.js';
import { CandidateFront } from './front.js';
import { KNOB_MOVES, type ModeSpace } from './space.js';
import { MeasurementTable } from './table.js';
import { RooflineModel, localModel, tableColumns as columns } from './roofline.js';
import type { PreparedStrategy, Profiling, Strategy, StrategyContext } from './strategy.js';

export interface GmdOptions {
  /** Most modes profiled per problem (MAXN and the probes included). */
  readonly maxModes: number;
  /** Probe level per knob as a fraction of the top value (cores, CPU, GPU, EMC). */
  readonly probeFractions: readonly [number, number, number, number];
  /** The low diagonal probe: every knob near this fraction of its top value. */
  readonly lowFraction: number;
  /** First local step per knob, as a fraction of its level range (halved when no move helps). */
  readonly stepFraction: number;
  /** Most model-guided jumps before the local descent (the second with the budget corrected). */
  readonly jumps: number;
  /** A power budget at least this fraction of MAXN's measured peak power skips the low diagonal probe. */
  readonly highBudgetFraction: number;
  /** Least predicted gain in X (relative) for which the descent profiles a move from a feasible incumbent. */
  readonly minGain: number;
  /**
   * Ridge of the local model's measured correction (roofline.ts): how much evidence the local
   * slopes need before they override the roofline shape; 0 turns the correction off.
   */
  readonly correctionRidge: number;
  /**
   * Most re-probes per problem (step 4 of the module comment): when the descent ends and the
   * model's power or throughput predictions have missed the measurements by more than
   * `doubtTolerance` plus the power margin (what noise explains), one knob is measured again
   * around the incumbent.
   */
  readonly reprobes: number;
  readonly doubtTolerance: number;
  /**
   * Fit the power columns' board terms (static, leakage, GPU and memory clock trees) once for all
   * columns (roofline.ts `sharedPower`), so every workload's and batch size's measurements pin them
   * rather than each column's few modes alone.
   */
  readonly sharedPower: boolean;
}

export const DEFAULT_GMD_OPTIONS: GmdOptions = {
  maxModes: 12,
  probeFractions: [0.1, 0.5, 0.55, 0.6],
  lowFraction: 0.2,
  stepFraction: 1 / 6,
  jumps: 2,
  highBudgetFraction: 0.6,
  minGain: 0.02,
  correctionRidge: 0.02,
  reprobes: 1,
  doubtTolerance: 0.03,
  sharedPower: true,
};

/**
 * The key-level model, shared by every problem of the key: the roofline model fitted to MAXN, the
 * four axis probes and the low diagonal probe, predicted for every mode; its exact candidate fronts
 * give the first jump.
 */
export class AxisModel {
  readonly predicted: MeasurementTable;
  readonly front: CandidateFront;

  constructor(
    readonly space: ModeSpace,
    measured: MeasurementTable,
    readonly design: readonly number[],
    sharedPower = false,
  ) {
    const predicted = new MeasurementTable(space.size, measured.inferTimeS.map((b) => b.length));
    const dst = columns(predicted);
    const model = new RooflineModel(space, measured, design, undefined, undefined, undefined, { sharedPower });
    for (const m of space.indices) model.predictInto(m, dst, m);
    this.predicted = predicted;
    // Jumps stay inside the levels the design spans on every knob: below them the fit extrapolates
    // past knees it has not seen (EMC 204 MHz on a memory-bound model).
    const lowest = [0, 1, 2, 3].map((k) => Math.min(...design.map((m) => space.level(m, k))));
    const inside = (m: number): boolean => [0, 1, 2, 3].every((k) => space.level(m, k) >= lowest[k]!);
    this.front = new CandidateFront(predicted, Int32Array.from(space.indices).filter((m) => predicted.has(m) && inside(m)));
  }
}

const models = new WeakMap<MeasurementTable, Map<string, AxisModel>>();

export function probeModes(space: ModeSpace, top: number, fractions: readonly number[]): number[] {
  return [0, 1, 2, 3].map((k) => {
    const axis = space.axes[k]!;
    const topValue = axis[axis.length - 1]!;
    const topLevel = space.level(top, k);
    // The level whose value is nearest the wanted fraction of the top, at least one step down.
    let level = 0;
    let bestD = Infinity;
    for (let l = 0; l < axis.length; l++) {
      const d = Math.abs(axis[l]! / topValue - fractions[k]!);
      if (d < bestD) {
        bestD = d;
        level = l;
      }
    }
    level = Math.min(level, topLevel - 1);
    if (level < 0) return top;
    return space.nearestAvailable(space.shifted(top, k, level - topLevel));
  });
}

/** Local models by (anchor, profiled set), per key: problems of a key often walk the same path. */
const localModels = new WeakMap<MeasurementTable, { left: number; byKey: Map<string, RooflineModel> }>();
/** Most local models a key keeps (about 1–2 kB each). */
const LOCAL_MODEL_CACHE = 8000;

/** `localModel`, shared by the problems of a key; fitted over the modes in index order, so the fit does not depend on the path. */
function sharedLocalModel(space: ModeSpace, measured: MeasurementTable, profiled: readonly number[], anchor: number, ridge: number, sharedPower: boolean): RooflineModel {
  let cache = localModels.get(measured);
  if (!cache) localModels.set(measured, (cache = { left: LOCAL_MODEL_CACHE, byKey: new Map() }));
  const modes = [...profiled].sort((a, b) => a - b);
  const id = `${ridge}|${sharedPower ? 1 : 0}|${anchor}|${modes.join(',')}`;
  let model = cache.byKey.get(id);
  if (!model) {
    model = localModel(space, measured, modes, anchor, ridge, sharedPower);
    if (cache.left > 0) {
      cache.left--;
      cache.byKey.set(id, model);
    }
  }
  return model;
}

/**
 * A local model's predictions, kept per mode: the problems of a key that share a model (by anchor
 * and profiled set) predict the same candidates again. Bounded: at most `MEMO_ROWS` modes a model,
 * and the memos of the `MEMO_MODELS` models used last per key (each ≤ MEMO_ROWS × columns × 8 B:
 * a key's at most 17 MB with one stream of 7 batch sizes, 31 MB with two).
 */
export class PredictionMemo {
  private readonly rows = new Map<number, number>();
  private data: Float64Array;
  constructor(private readonly columns: number) {
    this.data = new Float64Array(64 * columns);
  }

  /** Model `model`'s prediction of mode m into `dst` at `slot`, from the memo when it has it. */
  predictInto(model: RooflineModel, m: number, dst: readonly Float64Array[], slot: number): void {
    const n = this.columns;
    const row = this.rows.get(m);
    if (row !== undefined) {
      const at = row * n;
      for (let c = 0; c < n; c++) dst[c]![slot] = this.data[at + c]!;
      return;
    }
    model.predictInto(m, dst, slot);
    const next = this.rows.size;
    if (next >= MEMO_ROWS) return;
    if ((next + 1) * n > this.data.length) {
      const grown = new Float64Array(Math.min(MEMO_ROWS, 2 * (this.data.length / n)) * n);
      grown.set(this.data);
      this.data = grown;
    }
    const at = next * n;
    for (let c = 0; c < n; c++) this.data[at + c] = dst[c]![slot]!;
    this.rows.set(m, next);
  }
}
export const MEMO_ROWS = 1024;
export const MEMO_MODELS = 128;
const memos = new WeakMap<MeasurementTable, Map<RooflineModel, PredictionMemo>>();

/** The memo of `model` (a shared local model of the key measured into `measured`), most recently used last. */
export function memoFor(measured: MeasurementTable, model: RooflineModel, columns: number): PredictionMemo {
  let byModel = memos.get(measured);
  if (!byModel) memos.set(measured, (byModel = new Map()));
  let memo = byModel.get(model);
  if (memo) byModel.delete(model);
  else {
    memo = new PredictionMemo(columns);
    if (byModel.size >= MEMO_MODELS) byModel.delete(byModel.keys().next().value!);
  }
  byModel.set(model, memo);
  return memo;
}

/** Per space size, the candidate stamps every GMD descent shares (see the descent). */
const stamps = new Map<number, Int32Array>();
let stampEpoch = 0;
function stampsFor(size: number): Int32Array {
  let s = stamps.get(size);
  if (!s) stamps.set(size, (s = new Int32Array(size)));
  return s;
}

/** The most power mode m draws: training or any stream's inference at any batch size. */
function peakPower(t: MeasurementTable, m: number): number {
  let p = t.trainPowerW[m]!;
  for (const perBatch of t.inferPowerW) for (const col of perBatch) if (col[m]! > p) p = col[m]!;
  return p;
}

/** True when some batch choice on mode m meets stability and every latency budget (with margins). */
function latencyFeasible(table: MeasurementTable, m: number, obj: Objective, margins: SafetyMargins, scratch: ModeScore): boolean {
  // Judge with an unlimited power budget: whatever remains violated is latency or stability.
  const relaxed = Object.create(obj, { powerBudgetW: { value: 1e300 } }) as Objective;
  return scoreMode(table, m, relaxed, margins, scratch).feasible;
}

class GmdRun {
  readonly profiled: number[] = [];
  private readonly seen = new Set<number>();
  private readonly scratch: ModeScore;
  private readonly best: ModeScore;
  /** Modes whose training power alone is over budget (peak): everything ≥ them is out. */
  private readonly overPower: number[] = [];
  /** Modes that miss latency for every batch size: everything ≤ them is out. */
  private readonly tooSlow: number[] = [];
  private readonly overPowerLevels: number[] = [];
  private readonly tooSlowLevels: number[] = [];

  constructor(
    private readonly ctx: StrategyContext,
    private readonly obj: Objective,
    private readonly options: GmdOptions,
  ) {
    this.scratch = new ModeScore(obj.streamCount);
    this.best = new ModeScore(obj.streamCount);
    this.relaxedScore = new ModeScore(obj.streamCount);
  }

  get budgetLeft(): number {
    return this.options.maxModes - this.profiled.length;
  }

  /** Records profiled modes: incumbent and pruning facts. */
  note(modes: readonly number[]): void {
    const { measured, margins } = this.ctx;
    for (const m of modes) {
      if (this.seen.has(m)) continue;
      this.seen.add(m);
      this.profiled.push(m);
      const s = scoreMode(measured, m, this.obj, margins, this.scratch);
      if (!s.measurable) continue;
      if (this.best.modeIndex < 0 || better(s, this.best)) this.best.copyFrom(s);
      const levels = this.ctx.space.levels(m);
      // Prune only what is over budget or too slow even at the favourable end of the noise: a
      // noisy measurement just over the line must not rule out the modes below it.
      if (!this.obj.averagePower && measured.trainPowerW[m]! * (1 - margins.powerFraction) > this.obj.powerBudgetW) {
        this.overPower.push(m);
        this.overPowerLevels.push(...levels);
      }
      if (!s.feasible) {
        // Over the power budget only: a near miss, which the descent searches around too.
        const relaxed = Object.create(this.obj, { powerBudgetW: { value: 1e300 } }) as Objective;
        const r = scoreMode(measured, m, relaxed, margins, this.relaxedScore);
        if (r.feasible) {
          this.nearModes.push(m);
          this.nearX.push(r.throughput);
          this.nearViolation.push(s.violation);
        }
      }
      if (!this.noLatencyPrune && !s.feasible && !latencyFeasible(measured, m, this.obj, { timeFraction: -margins.timeFraction, powerFraction: 0 }, this.scratch)) {
        this.tooSlow.push(m);
        this.tooSlowLevels.push(...levels);
      }
    }
  }

  /** Ruled out by monotonicity: ≥ a mode over the power budget, or ≤ a mode too slow for latency. */
  pruned(m: number): boolean {
    const space = this.ctx.space;
    const l0 = space.level(m, 0);
    const l1 = space.level(m, 1);
    const l2 = space.level(m, 2);
    const l3 = space.level(m, 3);
    const over = this.overPowerLevels;
    for (let i = 0; i < over.length; i += 4) {
      if (l0 >= over[i]! && l1 >= over[i + 1]! && l2 >= over[i + 2]! && l3 >= over[i + 3]!) return true;
    }
    const slow = this.tooSlowLevels;
    for (let i = 0; i < slow.length; i += 4) {
      if (l0 <= slow[i]! && l1 <= slow[i + 1]! && l2 <= slow[i + 2]! && l3 <= slow[i + 3]!) return true;
    }
    return false;
  }

  isProfiled(m: number): boolean {
    return this.seen.has(m);
  }

  incumbent(): ModeScore | undefined {
    return this.best.modeIndex < 0 ? undefined : this.best;
  }

  /** Profiled modes that meet latency and stability but not the power budget. */
  private readonly nearModes: number[] = [];
  private readonly nearX: number[] = [];
  private readonly nearViolation: number[] = [];
  private readonly relaxedScore: ModeScore;

  /**
   * The near miss closest to the budget among those that would beat throughput `x` (-1 if none):
   * the optimum sits on the budget's boundary, and on a board the model fits badly the fastest
   * modes just over it are better guides to it than the incumbent below.
   */
  nearMiss(x: number): number {
    let best = -1;
    let bestV = Infinity;
    for (let i = 0; i < this.nearModes.length; i++) {
      if (this.nearX[i]! > x && this.nearViolation[i]! < bestV) {
        bestV = this.nearViolation[i]!;
        best = this.nearModes[i]!;
      }
    }
    return best;
  }

  /** A mode below MAXN measured faster than MAXN: times are not monotone, stop pruning by latency. */
  throttled(): void {
    this.tooSlow.length = 0;
    this.tooSlowLevels.length = 0;
    this.noLatencyPrune = true;
  }

  private noLatencyPrune = false;

  /** Only MAXN so far: is it the answer on its own? */
  maxnSettles(top: number): boolean {
    const b = this.best;
    if (b.modeIndex !== top) return false;
    return b.feasible || this.tooSlow.includes(top);
  }
}

export function gmd(options: GmdOptions = DEFAULT_GMD_OPTIONS): Strategy {
  const name = options === DEFAULT_GMD_OPTIONS ? 'gmd' : `gmd-${options.maxModes}`;
  return {
    name,
    description: `gradient-style multi-dimensional descent from MAXN with axis probes, model-guided jumps, local exchange moves and monotone pruning; at most ${options.maxModes} modes`,
    // eslint-disable-next-line require-yield
    *prepare(ctx): Profiling<PreparedStrategy> {
      const { space, measured } = ctx;
      const top = space.topIndex();
      const low = space.nearestAvailable(
        space.indexOfLevels(
          space.axes.map((axis) => {
            // The level nearest lowFraction of the top value on every knob.
            let best = 0;
            for (let l = 0; l < axis.length; l++) if (Math.abs(axis[l]! / axis[axis.length - 1]! - options.lowFraction) < Math.abs(axis[best]! / axis[axis.length - 1]! - options.lowFraction)) best = l;
            return best;
          }),
        ),
      );
      const axis = probeModes(space, top, options.probeFractions);
      // Each knob's probe level (re-probes around the incumbent move one knob there).
      const probeLevels = axis.map((p, k) => space.level(p, k));
      const probes = [...new Set([...axis, low].filter((p) => p !== top))];
      const design = [top, ...probes];
      const modelFor = (modes: readonly number[]): AxisModel => {
        let byOptions = models.get(measured);
        if (!byOptions) models.set(measured, (byOptions = new Map()));
        const id = `${JSON.stringify(options)}|${modes.length}`;
        let model = byOptions.get(id);
        if (!model) byOptions.set(id, (model = new AxisModel(space, measured, modes, options.sharedPower)));
        return model;
      };
      let scratch: { readonly table: MeasurementTable; readonly slotMode: Int32Array } | undefined;
      return {
        *answer(obj: Objective) {
          const run = new GmdRun(ctx, obj, options);
          yield [top];
          run.note([top]);
          if (options.maxModes <= 1) return run.incumbent()?.clone();
          if (run.maxnSettles(top)) {
            // MAXN is the fastest mode unless the board throttles it: one GPU step down checks.
            const check = space.nearestAvailable(space.shifted(top, 2, -1));
            if (check < 0 || check === top) return run.incumbent()?.clone();
            const maxnX = run.incumbent()!.throughput;
            const maxnFeasible = run.incumbent()!.feasible;
            yield [check];
            run.note([check]);
            const inc = run.incumbent()!;
            if (inc.modeIndex === top || (maxnFeasible && inc.throughput <= maxnX * 1.001)) return inc.clone();
            // Faster below MAXN: the board throttles, and "too slow ⇒ everything below is too" no longer holds.
            run.throttled();
          }

          // A budget well above the low probe's region (by MAXN's peak power): the axis probes alone.
          const maxnPeak = peakPower(measured, top);
          const withLow = !(obj.powerBudgetW >= options.highBudgetFraction * maxnPeak) || obj.averagePower;
          const axisProbes = (withLow ? probes : probes.filter((p) => p !== low)).slice(0, Math.max(0, options.maxModes - 1));
          yield axisProbes;
          run.note(axisProbes);
          const model = modelFor([top, ...axisProbes]);

          // Jump to the model's best mode for this problem; if its measured power is off the
          // prediction, jump again with the budget corrected by the ratio (power-targeted secant).
          let powerScale = 1;
          /** How far the model's predictions have missed the measurements (relative, the worst so far). */
          let doubt = 0;
          const missed = (predicted: ModeScore, got: ModeScore): void => {
            if (got.measurable && predicted.powerW > 0) doubt = Math.max(doubt, Math.abs(got.powerW / predicted.powerW - 1));
            // Times too: on a board that throttles, a jump's power can be as predicted and its speed not.
            if (got.measurable && predicted.throughput > 0 && got.throughput > 0) doubt = Math.max(doubt, Math.abs(got.throughput / predicted.throughput - 1));
          };
          const jumpScore = new ModeScore(obj.streamCount);
          for (let j = 0; j < options.jumps && run.budgetLeft > 0; j++) {
            const target = powerScale === 1 ? obj : (Object.create(obj, { powerBudgetW: { value: obj.powerBudgetW * powerScale } }) as Objective);
            const jump = model.front.bestFor(target, ctx.margins, true);
            if (!jump || !jump.feasible || run.isProfiled(jump.modeIndex)) break;
            const predictedW = jump.powerW;
            yield [jump.modeIndex];
            run.note([jump.modeIndex]);
            const got = scoreMode(measured, jump.modeIndex, obj, ctx.margins, jumpScore);
            if (!got.measurable) break;
            missed(jump, got);
            // Feasible and within 3 % of the budget (with margin): close enough.
            if (got.feasible && got.powerW * (1 + ctx.margins.powerFraction) >= 0.97 * obj.powerBudgetW) break;
            // Infeasible for latency or stability with power in budget: a budget correction will not help.
            if (!got.feasible && got.powerW * (1 + ctx.margins.powerFraction) <= obj.powerBudgetW) break;
            powerScale = predictedW / got.powerW;
          }

          // Local descent with adaptive steps.
          const steps = space.dims.map((d) => Math.max(1, Math.round((d - 1) * options.stepFraction)));
          const K = obj.streamCount;
          // Every combination of −1, 0, +1 step on the four knobs: single moves, exchanges, diagonals.
          const moves = KNOB_MOVES;
          const lineSlots = 2 * space.dims.reduce((a, d) => a + d, 0);
          // One scratch table for every answer: a round fills and scores it without yielding.
          scratch ??= { table: new MeasurementTable(moves.length + lineSlots, measured.inferTimeS.map((b) => b.length)), slotMode: new Int32Array(moves.length + lineSlots) };
          const scratchTable = scratch.table;
          const slotMode = scratch.slotMode;
          const scratchColumns = columns(scratchTable);
          // Candidates already predicted this round: stamped with the round's number, unique across
          // answers (a round runs without yielding, so answers that interleave do not disturb it).
          const seen = stampsFor(space.size);
          const pScale = 1 + ctx.margins.powerFraction;
          const cand = new ModeScore(K);
          const pick = new ModeScore(K);
          let local: RooflineModel | undefined;
          let localKey = '';
          let reprobes = options.reprobes;
          const doubtLimit = options.doubtTolerance + ctx.margins.powerFraction;
          const got = new ModeScore(K);
          while (run.budgetLeft > 0) {
            const inc = run.incumbent()!;
            const anchor = inc.modeIndex;
            // Refitted only when a profile or the incumbent changed (not after a step halving).
            if (`${anchor}/${run.profiled.length}` !== localKey) {
              local = sharedLocalModel(space, measured, run.profiled, anchor, options.correctionRidge, options.sharedPower);
              localKey = `${anchor}/${run.profiled.length}`;
            }
            let slots = 0;
            if (stampEpoch >= 0x7fff_0000) {
              seen.fill(0);
              stampEpoch = 0;
            }
            const epoch = ++stampEpoch;
            const generate = (from: number, model: RooflineModel, by: readonly number[]): void => {
              const memo = memoFor(measured, model, scratchColumns.length);
              for (const mv of moves) {
                let m = from;
                for (let k = 0; k < 4 && m >= 0; k++) if (mv[k] !== 0) m = space.shifted(m, k, mv[k]! * by[k]!);
                if (m < 0 || seen[m] === epoch || !space.available(m) || run.isProfiled(m) || run.pruned(m)) continue;
                seen[m] = epoch;
                memo.predictInto(model, m, scratchColumns, slots);
                slotMode[slots++] = m;
              }
            };
            /**
             * Every level along each knob from `from`, upward (dir 1) or downward (dir −1): a line
             * search per knob to the budget's boundary.
             */
            const lines = (from: number, model: RooflineModel, dir: number): void => {
              const memo = memoFor(measured, model, scratchColumns.length);
              for (let k = 0; k < 4; k++) {
                const at = space.level(from, k);
                for (let l = at + dir; l >= 0 && l < space.dims[k]!; l += dir) {
                  const m = space.shifted(from, k, l - at);
                  if (m < 0 || seen[m] === epoch || !space.available(m) || run.isProfiled(m) || run.pruned(m)) continue;
                  seen[m] = epoch;
                  memo.predictInto(model, m, scratchColumns, slots);
                  slotMode[slots++] = m;
                  // The model's power rises and its times fall with every knob: past the budget on
                  // the way up, or back within it on the way down, the rest of the line is worse.
                  if (!obj.averagePower && (scratchTable.trainPowerW[slots - 1]! * pScale > obj.powerBudgetW) === dir > 0) break;
                }
              }
            };
            generate(anchor, local!, steps);
            // From a feasible incumbent, up toward the boundary; from an infeasible one, down.
            lines(anchor, local!, inc.feasible ? 1 : -1);
            const near = inc.feasible ? run.nearMiss(inc.throughput) : -1;
            if (near >= 0) {
              // Knob lines down from the closest near miss that would beat the incumbent, and its
              // exchanges and diagonals: on a board whose laws are not the roofline's, the way back
              // under the budget may trade one knob for another (synthetic family 0–7: mean X/X*
              // 0.921 → 0.924, worst 0.880 → 0.886; paper sweep unchanged, +20 % optimizer time).
              const nearModel = sharedLocalModel(space, measured, run.profiled, near, options.correctionRidge, options.sharedPower);
              lines(near, nearModel, -1);
              generate(near, nearModel, steps);
            }
            pick.modeIndex = -1;
            /** Nothing feasible yet: the least predicted violation among the candidates, better or not. */
            const closest = new ModeScore(K);
            let closestSlot = -1;
            // From a feasible incumbent a candidate is picked only with X ≥ (1 + minGain) × its X, and
            // X ≤ bT / tT whatever the streams take: one whose training time alone rules that out is
            // not scored.
            // Nor is one whose training power alone, with the power margin (fixed: predictions carry
            // no standard errors), exceeds a peak budget: it cannot be feasible.
            const slowest = inc.feasible ? obj.trainBatchSize / (inc.throughput * (1 + options.minGain)) : Infinity;
            const peakCut = inc.feasible && !obj.averagePower;
            const P = obj.powerBudgetW;
            for (let i = 0; i < slots; i++) {
              if (scratchTable.trainTimeS[i]! > slowest || (peakCut && (scratchTable.trainPowerW[i]! * pScale - P) / P > 1e-9)) continue;
              scoreMode(scratchTable, i, obj, ctx.margins, cand);
              if (!cand.measurable) continue;
              if (!inc.feasible && (closestSlot < 0 || better(cand, closest))) {
                closest.copyFrom(cand);
                closestSlot = i;
              }
              // Worth profiling only if predicted to beat the incumbent.
              if (!better(cand, inc)) continue;
              // A feasible incumbent: only a worthwhile predicted gain is worth a profile.
              if (inc.feasible && cand.throughput < inc.throughput * (1 + options.minGain)) continue;
              if (pick.modeIndex < 0 || better(cand, pick)) {
                pick.copyFrom(cand);
                pick.modeIndex = slotMode[i]!;
              }
            }
            if (pick.modeIndex < 0 && steps.every((s) => s === 1) && closestSlot >= 0) {
              // Nothing feasible and the model sees no way closer: an infeasible answer is the worst
              // there is, so the remaining profiles go to the closest candidates the model sees.
              pick.copyFrom(closest);
              pick.modeIndex = slotMode[closestSlot]!;
            }
            if (pick.modeIndex < 0 && steps.every((s) => s === 1) && reprobes > 0 && doubt > doubtLimit) {
              // The model has missed: a knob measured again around the incumbent (module comment).
              let best = -1;
              for (let k = 0; k < 4; k++) {
                const m = space.nearestAvailable(space.shifted(anchor, k, probeLevels[k]! - space.level(anchor, k)));
                if (m < 0 || m === anchor || run.isProfiled(m) || run.pruned(m)) continue;
                local!.predictInto(m, scratchColumns, 0);
                scoreMode(scratchTable, 0, obj, ctx.margins, cand);
                if (cand.measurable && (best < 0 || better(cand, pick))) {
                  pick.copyFrom(cand);
                  best = m;
                }
              }
              if (best >= 0) {
                reprobes--;
                pick.modeIndex = best;
              }
            }
            if (pick.modeIndex < 0) {
              if (steps.every((s) => s === 1)) break;
              for (let k = 0; k < 4; k++) steps[k] = Math.max(1, Math.floor(steps[k]! / 2));
              continue;
            }
            // `pick` is this answer's own: it still holds the prediction once the profile is back.
            yield [pick.modeIndex];
            run.note([pick.modeIndex]);
            missed(pick, scoreMode(measured, pick.modeIndex, obj, ctx.margins, got));
          }
          return run.incumbent()?.clone();
        },
      };
    },
  };
}
