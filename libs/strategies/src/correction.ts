/**
 * What a fitted shape still gets wrong, learnt from many measurements (ALS): per column, the log
 * residuals log(measured / predicted) of the profiled modes are fitted by an additive function of
 * the four knob levels — one value per level of each knob (per bin of adjacent levels past
 * MAX_BINS levels), pulled toward zero (`ridge`) and toward a smooth curve over the levels
 * (`smooth`, on second differences) — and every prediction of the column is multiplied by its
 * exponential (at most ×/÷ e^`limit`).
 *
 * A law the roofline shape cannot bend to — a GPU clock whose power is lowest in the middle of its
 * range, a memory clock a workload is more or less sensitive to than its bytes suggest — leaves
 * residuals that vary with one knob's level; the additive term takes them up. Where the shape is
 * right the residuals are noise, and the penalties keep the correction near zero.
 */
import { gaussSolve, tableColumns } from './roofline.js';
import type { ModeSpace } from './space.js';
import type { MeasurementTable } from './table.js';

export interface CorrectionOptions {
  /** Pull of every level's value toward zero (in units of one mode's squared log residual). */
  readonly ridge: number;
  /** Pull toward a straight line over each knob's levels (second differences). */
  readonly smooth: number;
  /** Largest correction, in log units. */
  readonly limit: number;
  /**
   * The shape's own error, relative (σ): a measurement with relative variance v weighs
   * σ² / (σ² + v) — a noisy one pulls the correction less than an exact one.
   */
  readonly misfit: number;
}

export const DEFAULT_CORRECTION: CorrectionOptions = { ridge: 0.1, smooth: 0.3, limit: 0.7, misfit: 0.01 };

/**
 * Most values per knob: a knob with more levels (a profile table with many distinct clocks) is
 * corrected per bin of adjacent levels, so a fit solves at most 4 × 64 unknowns per column.
 */
export const MAX_BINS = 64;

/**
 * Multiplies every column of `predicted` (over `space`'s modes) by the additive correction fitted
 * to `measured / predicted` at `modes`. Columns with fewer than 4 usable modes are left alone.
 */
export function correctAdditive(
  space: ModeSpace,
  measured: MeasurementTable,
  modes: readonly number[],
  predicted: MeasurementTable,
  variance: (m: number) => number,
  options: CorrectionOptions = DEFAULT_CORRECTION,
): void {
  const s2 = options.misfit * options.misfit;
  const weight = modes.map((m) => {
    const v = variance(m);
    return v > 0 ? s2 / (s2 + v) : 1;
  });
  // One value per level, or per bin of adjacent levels on a knob with more than MAX_BINS levels
  // (the solve is cubic in the number of values).
  const dims = space.dims.map((d) => Math.min(d, MAX_BINS));
  const binOf = (m: number, k: number): number => Math.floor((space.level(m, k) * dims[k]!) / space.dims[k]!);
  const offset = [0, dims[0]!, dims[0]! + dims[1]!, dims[0]! + dims[1]! + dims[2]!];
  const p = offset[3]! + dims[3]!;
  const levels = new Int32Array(modes.length * 4);
  modes.forEach((m, i) => {
    for (let k = 0; k < 4; k++) levels[i * 4 + k] = offset[k]! + binOf(m, k);
  });
  // The penalty: ridge on every value, smoothness on each knob's second differences.
  const penalty = new Float64Array(p * p);
  for (let j = 0; j < p; j++) penalty[j * p + j] = options.ridge;
  for (let k = 0; k < 4; k++) {
    for (let l = 1; l + 1 < dims[k]!; l++) {
      const idx = [offset[k]! + l - 1, offset[k]! + l, offset[k]! + l + 1];
      const coef = [1, -2, 1];
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) penalty[idx[a]! * p + idx[b]!]! += options.smooth * coef[a]! * coef[b]!;
    }
  }
  // Each mode's four values, found once for every column (space.indices order).
  let slots: Int32Array | undefined;
  const slotsOfModes = (): Int32Array => {
    const out = new Int32Array(space.indices.length * 4);
    space.indices.forEach((m, j) => {
      for (let k = 0; k < 4; k++) out[j * 4 + k] = offset[k]! + binOf(m, k);
    });
    return out;
  };
  const measuredCols = tableColumns(measured);
  const predictedCols = tableColumns(predicted);
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let c = 0; c < measuredCols.length; c++) {
    const mc = measuredCols[c]!;
    const pc = predictedCols[c]!;
    A.set(penalty);
    b.fill(0);
    let used = 0;
    for (let i = 0; i < modes.length; i++) {
      const v = mc[modes[i]!]!;
      const q = pc[modes[i]!]!;
      if (!(v > 0) || !(q > 0)) continue;
      const r = Math.log(v / q);
      const w = weight[i]!;
      used++;
      for (let a = 0; a < 4; a++) {
        const ja = levels[i * 4 + a]!;
        b[ja]! += w * r;
        for (let bb = 0; bb < 4; bb++) A[ja * p + levels[i * 4 + bb]!]! += w;
      }
    }
    if (used < 4) continue;
    gaussSolve(A, b, p);
    slots ??= slotsOfModes();
    const indices = space.indices;
    for (let j = 0; j < indices.length; j++) {
      const m = indices[j]!;
      const q = pc[m]!;
      if (!(q > 0)) continue;
      const s4 = j * 4;
      let s = b[slots[s4]!]! + b[slots[s4 + 1]!]! + b[slots[s4 + 2]!]! + b[slots[s4 + 3]!]!;
      if (s > options.limit) s = options.limit;
      else if (s < -options.limit) s = -options.limit;
      pc[m] = q * Math.exp(s);
    }
  }
}
