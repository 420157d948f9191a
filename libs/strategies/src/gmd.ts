/**
 * GMD — gradient-style multi-dimensional descent over the four knobs (SPEC §5).
 *
 * 1. Profile MAXN. It is the fastest mode, so if it is feasible it is optimal; if it misses a
 *    latency budget (or is unstable) no mode can meet it and it is the closest plan.
 * 2. Probe one step down along each knob from MAXN (about half the top core count and CPU/GPU clock,
 *    one EMC step) and one low diagonal mode. These give, for every measured quantity, an
 *    elasticity per knob for times (the exponent of the knob's clock ratio) and, for powers, the
 *    watts per knob of an additive law shaped like DVFS power f·V² with V rising linearly in f
 *    (leakage n·V² for cores). The model they define is shared by every problem of the key.
 * 3. Jump: the mode that the model predicts best for this problem (the exact candidate fronts of
 *    front.ts over the model's predictions for every mode) is profiled next; when its measured
 *    power misses the prediction, once more with the budget scaled by predicted / measured power.
 * 4. Descend locally from the best profiled mode: candidate moves are one step along a knob and
 *    exchanges (one knob up, another down), predicted with the model re-anchored at the incumbent's
 *    measurements; the best predicted improvement (or, while nothing is feasible, the largest
 *    predicted reduction of the violation) is profiled. Steps start at about a sixth of each knob's
 *    range and halve when no move is predicted to help.
 * 5. Monotonicity prunes: a mode whose training power alone is over the budget rules out every mode
 *    ≥ it in all knobs (peak power); a mode that misses latency for every batch size rules out every
 *    mode ≤ it.
 *
 * Plans come only from profiled modes, judged with the safety margins; at most `maxModes` profiles.
 */
import { ModeScore, better, scoreMode, type Objective, type SafetyMargins } from './objective.js';
import { CandidateFront } from './front.js';
import type { ModeSpace } from './space.js';
import { MeasurementTable } from './table.js';
import type { PreparedStrategy, Profiling, Strategy, StrategyContext } from './strategy.js';

export interface GmdOptions {
  /** Most modes profiled per problem (MAXN and the probes included). */
  readonly maxModes: number;
  /** Probe level per knob as a fraction of the top value (cores, CPU, GPU, EMC). */
  readonly probeFractions: readonly [number, number, number, number];
  /** Ridge weight pulling the local elasticities toward the axis probes' (in units of profile weight). */
  readonly priorWeight: number;
  /** The low diagonal probe: every knob near this fraction of its top value. */
  readonly lowFraction: number;
  /** The static power floor as a fraction of the lowest power the design measured. */
  readonly floorFraction: number;
  /** First local step per knob, as a fraction of its level range (halved when no move helps). */
  readonly stepFraction: number;
  /** Most model-guided jumps before the local descent (the second with the budget corrected). */
  readonly jumps: number;
}

export const DEFAULT_GMD_OPTIONS: GmdOptions = { maxModes: 12, probeFractions: [0.5, 0.5, 0.55, 0.6], priorWeight: 0.1, lowFraction: 0.2, floorFraction: 0.85, stepFraction: 1 / 6, jumps: 2 };

/** log(value / top value) of knob k at mode m: the model's features. */
function logRatio(space: ModeSpace, m: number, k: number): number {
  const axis = space.axes[k]!;
  return Math.log(axis[space.level(m, k)]! / axis[axis.length - 1]!);
}

/** Every column of a table, in a fixed order (training time, power, then per stream and batch). */
function columns(t: MeasurementTable): Float64Array[] {
  return [t.trainTimeS, t.trainPowerW, ...t.inferTimeS.flat(), ...t.inferPowerW.flat()];
}

/**
 * Voltage at the bottom of a clock range relative to the top, for the power law's shape
 * v(x) = V0 + (1 − V0)·x: a generic DVFS assumption, not the virtual device's constants (0.5 and 0.7
 * measured 0.008 and 0.011 lower mean X/X* than 0.6 on the reduced paper sweep).
 */
const V0 = 0.6;
/** Powers use the additive law (false: the log-linear law above a static floor, as before). */
const ADDITIVE = true;

/** x·v(x)² with v rising linearly from V0 at the bottom of the clock range (dynamic power f·V²). */
function dvfs(x: number): number {
  const v = V0 + (1 - V0) * x;
  return x * v * v;
}

/** The model's features of mode m: log clock ratios (times) or additive power terms (powers). */
function features(space: ModeSpace, m: number, time: boolean, out: Float64Array): Float64Array {
  out[0] = 1;
  if (time || !ADDITIVE) {
    for (let k = 0; k < 4; k++) out[k + 1] = logRatio(space, m, k);
    return out;
  }
  const r = (k: number): number => {
    const axis = space.axes[k]!;
    return axis[space.level(m, k)]! / axis[axis.length - 1]!;
  };
  const c = r(1);
  const vc = V0 + (1 - V0) * c;
  out[1] = r(0) * vc * vc; // online cores' leakage n·Vc²
  out[2] = dvfs(c); // the busy CPU thread
  out[3] = dvfs(r(2)); // GPU clock tree and work
  out[4] = dvfs(r(3)); // EMC
  return out;
}

/** Prediction of one column from its coefficients [slopes…, offset] and the features. */
function predictColumn(k: Float64Array, f: Float64Array, time: boolean, floor: number): number {
  const lin = k[4]! + k[0]! * f[1]! + k[1]! * f[2]! + k[2]! * f[3]! + k[3]! * f[4]!;
  if (time || !ADDITIVE) return floor + Math.exp(lin);
  return lin;
}

/**
 * Fits, for every column, by weighted ridge least squares over the given modes: for times
 * log t = β₀ + Σ_k β_k·log x_k; for powers an additive physics-shaped law
 * P = a₀ + a₁·n·Vc² + a₂·φ(xc) + a₃·φ(xg) + a₄·φ(xe) (φ = f·V², V linear in f).
 * β is pulled toward `prior` (when given) and clipped to be monotone: times never fall and powers
 * never rise when a knob goes down. With an anchor, the offset is moved so the fit passes exactly
 * through the anchor's value.
 */
function fitColumns(
  space: ModeSpace,
  measured: MeasurementTable,
  modes: readonly number[],
  weights: readonly number[],
  floors: Float64Array,
  prior: readonly Float64Array[] | undefined,
  priorWeight: number,
  anchor: number | undefined,
): Float64Array[] {
  const n = modes.length;
  const build = (time: boolean) => {
    const f = modes.map((m) => Array.from(features(space, m, time, new Float64Array(5))));
    const A = Array.from({ length: 5 }, () => new Float64Array(5));
    for (let i = 0; i < n; i++) for (let r = 0; r < 5; r++) for (let c = 0; c < 5; c++) A[r]![c]! += weights[i]! * f[i]![r]! * f[i]![c]!;
    // A little ridge on the slopes even without a prior keeps under-determined fits finite.
    const ridge = prior ? priorWeight : 1e-6;
    for (let r = 1; r < 5; r++) A[r]![r]! += ridge;
    const fa = anchor === undefined ? undefined : features(space, anchor, time, new Float64Array(5));
    return { f, A, fa };
  };
  const sets = { time: build(true), power: build(false) };
  const cols = columns(measured);
  return cols.map((col, c) => {
    const out = new Float64Array(5);
    const time = isTimeColumn(measured, c);
    const { f, A, fa } = time ? sets.time : sets.power;
    const additive = !time && ADDITIVE;
    const floor = time || additive ? 0 : floors[c]!;
    const target = (v: number): number => (additive ? v : Math.log(Math.max(v - floor, 1e-9)));
    const b = new Float64Array(5);
    const ys: number[] = [];
    for (let i = 0; i < n; i++) {
      const y = target(col[modes[i]!]!);
      if (!Number.isFinite(y)) {
        out.fill(Number.NaN);
        return out;
      }
      ys.push(y);
      for (let r = 0; r < 5; r++) b[r]! += weights[i]! * f[i]![r]! * y;
    }
    if (prior) for (let r = 1; r < 5; r++) b[r]! += priorWeight * prior[c]![r - 1]!;
    const beta = solve5(A, b);
    for (let k = 1; k < 5; k++) beta[k] = time ? Math.min(0, beta[k]!) : Math.max(0, beta[k]!);
    out.set(beta.subarray(1), 0);
    let offset = beta[0]!;
    if (fa) {
      let at = 0;
      for (let k = 0; k < 4; k++) at += out[k]! * fa[k + 1]!;
      offset = target(col[anchor!]!) - at;
    } else if (additive) {
      // After clipping, the offset that fits best (weighted mean residual).
      let sw = 0;
      let sr = 0;
      for (let i = 0; i < n; i++) {
        let at = 0;
        for (let k = 0; k < 4; k++) at += out[k]! * f[i]![k + 1]!;
        sw += weights[i]!;
        sr += weights[i]! * (ys[i]! - at);
      }
      offset = sr / sw;
    }
    out[4] = offset;
    return out;
  });
}

/**
 * The key-level model, shared by every problem of the key: `fitColumns` over MAXN, the four axis
 * probes and the low diagonal probe, predicted for every mode; its exact candidate fronts give the
 * first jump.
 */
class AxisModel {
  readonly predicted: MeasurementTable;
  readonly front: CandidateFront;
  /** Per column: the four slopes and the offset. */
  readonly coef: Float64Array[];
  /** Per column: the static power floor (0 for times). */
  readonly floors: Float64Array;

  constructor(
    readonly space: ModeSpace,
    measured: MeasurementTable,
    readonly design: readonly number[],
    floorFraction: number,
  ) {
    const predicted = new MeasurementTable(space.size, measured.inferTimeS.map((b) => b.length));
    const src = columns(measured);
    this.floors = Float64Array.from(src, (col, c) => {
      if (isTimeColumn(measured, c)) return 0;
      let low = Infinity;
      for (const m of design) if (col[m]! > 0 && col[m]! < low) low = col[m]!;
      return Number.isFinite(low) ? floorFraction * low : 0;
    });
    this.coef = fitColumns(space, measured, design, design.map(() => 1), this.floors, undefined, 0, undefined);
    const dst = columns(predicted);
    const all = space.indices;
    const ft = new Float64Array(5);
    const fp = new Float64Array(5);
    const timeCol = dst.map((_, c) => isTimeColumn(measured, c));
    for (const m of all) {
      features(space, m, true, ft);
      features(space, m, false, fp);
      for (let c = 0; c < dst.length; c++) dst[c]![m] = predictColumn(this.coef[c]!, timeCol[c] ? ft : fp, timeCol[c]!, this.floors[c]!);
    }
    this.predicted = predicted;
    // Jumps stay inside the levels the design spans on every knob: below them the power laws
    // extrapolate past roofline knees (EMC 204 MHz on a memory-bound model) they have not seen.
    const lowest = [0, 1, 2, 3].map((k) => Math.min(...design.map((m) => space.level(m, k))));
    const inside = (m: number): boolean => [0, 1, 2, 3].every((k) => space.level(m, k) >= lowest[k]!);
    this.front = new CandidateFront(predicted, Int32Array.from(all).filter((m) => predicted.has(m) && inside(m)));
  }

  /** The slopes per column, the local model's prior. */
  get slopes(): Float64Array[] {
    return this.coef.map((k) => k.subarray(0, 4));
  }
}

/** Whether column c (in `columns` order) holds times. */
function isTimeColumn(t: MeasurementTable, c: number): boolean {
  if (c === 0) return true;
  if (c === 1) return false;
  let inferColumns = 0;
  for (const perBatch of t.inferTimeS) inferColumns += perBatch.length;
  return c - 2 < inferColumns;
}

const models = new WeakMap<MeasurementTable, Map<string, AxisModel>>();

function probeModes(space: ModeSpace, top: number, fractions: readonly number[]): number[] {
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

/**
 * The local model around the incumbent: `fitColumns` over every profiled mode, weighted by closeness
 * to the anchor, pulled toward the key-level slopes, through the anchor's measurement. This is the
 * descent's gradient, refreshed with every profile.
 */
class LocalModel {
  private readonly coef: Float64Array[];
  private readonly floors: Float64Array;
  private readonly timeCol: boolean[];

  constructor(space: ModeSpace, measured: MeasurementTable, axis: AxisModel, profiled: readonly number[], anchor: number, priorWeight: number) {
    const al = [0, 1, 2, 3].map((k) => space.level(anchor, k) / Math.max(1, space.dims[k]! - 1));
    const w = profiled.map((m) => {
      let d2 = 0;
      for (let k = 0; k < 4; k++) {
        const d = space.level(m, k) / Math.max(1, space.dims[k]! - 1) - al[k]!;
        d2 += d * d;
      }
      return 1 / (1 + d2 / 0.0625);
    });
    this.floors = axis.floors;
    this.timeCol = columns(measured).map((_, c) => isTimeColumn(measured, c));
    this.coef = fitColumns(space, measured, profiled, w, axis.floors, axis.slopes, priorWeight, anchor);
  }

  /** Writes the prediction of mode m into slot `slot` of a scratch table's columns. */
  private readonly ft = new Float64Array(5);
  private readonly fp = new Float64Array(5);

  predictInto(space: ModeSpace, m: number, dst: readonly Float64Array[], slot: number): void {
    features(space, m, true, this.ft);
    features(space, m, false, this.fp);
    for (let c = 0; c < dst.length; c++) {
      const time = this.timeCol[c]!;
      dst[c]![slot] = predictColumn(this.coef[c]!, time ? this.ft : this.fp, time, this.floors[c]!);
    }
  }
}

/** Solves a 5×5 system by Gaussian elimination with partial pivoting (A is copied). */
function solve5(A0: readonly Float64Array[], b0: Float64Array): Float64Array {
  const A = A0.map((r) => Float64Array.from(r));
  const b = Float64Array.from(b0);
  const n = 5;
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(A[r]![i]!) > Math.abs(A[p]![i]!)) p = r;
    [A[i], A[p]] = [A[p]!, A[i]!];
    [b[i], b[p]] = [b[p]!, b[i]!];
    const d = A[i]![i]!;
    if (Math.abs(d) < 1e-12) continue;
    for (let r = i + 1; r < n; r++) {
      const f = A[r]![i]! / d;
      if (f === 0) continue;
      for (let c = i; c < n; c++) A[r]![c]! -= f * A[i]![c]!;
      b[r]! -= f * b[i]!;
    }
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let c = i + 1; c < n; c++) s -= A[i]![c]! * x[c]!;
    const d = A[i]![i]!;
    x[i] = Math.abs(d) < 1e-12 ? 0 : s / d;
  }
  return x;
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
      if (!this.obj.averagePower && measured.trainPowerW[m]! * (1 + margins.powerFraction) > this.obj.powerBudgetW) {
        this.overPower.push(m);
        this.overPowerLevels.push(...levels);
      }
      if (!s.feasible && !latencyFeasible(measured, m, this.obj, margins, this.scratch)) {
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
      const probes = [...new Set([...probeModes(space, top, options.probeFractions), low].filter((p) => p !== top))];
      const design = [top, ...probes];
      const modelFor = (): AxisModel => {
        let byOptions = models.get(measured);
        if (!byOptions) models.set(measured, (byOptions = new Map()));
        const id = JSON.stringify(options);
        let model = byOptions.get(id);
        if (!model) byOptions.set(id, (model = new AxisModel(space, measured, design, options.floorFraction)));
        return model;
      };
      return {
        *answer(obj: Objective) {
          const run = new GmdRun(ctx, obj, options);
          yield [top];
          run.note([top]);
          if (run.maxnSettles(top) || options.maxModes <= 1) return run.incumbent()?.clone();

          const axisProbes = probes.slice(0, Math.max(0, options.maxModes - 1));
          yield axisProbes;
          run.note(axisProbes);
          const model = modelFor();

          // Jump to the model's best mode for this problem; if its measured power is off the
          // prediction, jump again with the budget corrected by the ratio (power-targeted secant).
          let powerScale = 1;
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
          const moves: number[][] = [];
          for (let code = 0; code < 81; code++) {
            const mv = [0, 1, 2, 3].map((k) => (Math.floor(code / 3 ** k) % 3) - 1);
            if (mv.some((d) => d !== 0)) moves.push(mv);
          }
          const scratchTable = new MeasurementTable(moves.length, measured.inferTimeS.map((b) => b.length));
          const slotMode = new Int32Array(moves.length);
          const scratchColumns = columns(scratchTable);
          const cand = new ModeScore(K);
          const pick = new ModeScore(K);
          while (run.budgetLeft > 0) {
            const inc = run.incumbent()!;
            const anchor = inc.modeIndex;
            const local = new LocalModel(space, measured, model, run.profiled, anchor, options.priorWeight);
            let slots = 0;
            for (const mv of moves) {
              let m = anchor;
              for (let k = 0; k < 4 && m >= 0; k++) if (mv[k] !== 0) m = space.shifted(m, k, mv[k]! * steps[k]!);
              if (m < 0 || !space.available(m) || run.isProfiled(m) || run.pruned(m)) continue;
              local.predictInto(space, m, scratchColumns, slots);
              slotMode[slots++] = m;
            }
            pick.modeIndex = -1;
            for (let i = 0; i < slots; i++) {
              scoreMode(scratchTable, i, obj, ctx.margins, cand);
              if (!cand.measurable) continue;
              // Worth profiling only if predicted to beat the incumbent.
              if (!better(cand, inc)) continue;
              if (pick.modeIndex < 0 || better(cand, pick)) {
                pick.copyFrom(cand);
                pick.modeIndex = slotMode[i]!;
              }
            }
            if (pick.modeIndex < 0) {
              if (steps.every((s) => s === 1)) break;
              for (let k = 0; k < 4; k++) steps[k] = Math.max(1, Math.floor(steps[k]! / 2));
              continue;
            }
            yield [pick.modeIndex];
            run.note([pick.modeIndex]);
          }
          return run.incumbent()?.clone();
        },
      };
    },
  };
}
