/**
 * Noise-aware power estimates for plans chosen among profiled modes.
 *
 * Every measured power carries noise (σ ≈ 2.5 % in the virtual device), and choosing the best
 * *measured* feasible mode among many near-ties favours the modes whose power was measured low (the
 * winner's curse): with a fixed 2σ margin on raw measurements, plans still miss the budget on the
 * noise-free truth. Power, unlike time, follows a law that is linear in a few physical terms once
 * the minibatch time T is known (SPEC §3: static + per-core leakage ∝ n·V² + dynamic f·V² per clock
 * domain + energy per FLOP/byte × work rate ∝ 1/T, with V rising linearly in the clock), so a
 * regression on every profiled mode predicts each mode's power from the others:
 *
 *   P ≈ Σ wⱼ φⱼ(n, xc, xg, xe, 1/T)   with φ = 1, n, n·xc, n·xc², xc…xc³, xg…xg³, xe…xe³,
 *                                        1/T, xg/T, xg²/T, xe/T, xe²/T, xc/T, xc²/T, xc³/T
 *
 * (x = clock / top clock, n = cores / top cores, T the mode's measured minibatch time; 21 terms,
 * weighted least squares on relative error). For each profiled mode the *leave-one-out* prediction
 * (independent of that mode's own noise) and the measurement are combined by inverse variance: the
 * measurement's variance σᵢ² is what it carries (issue 16: its relative standard error² plus the
 * part a window cannot show, s²·Σwᵢ², as in the margins of SPEC §4; the backend's noise σₙ² where
 * it carries none), the model's is estimated per quantity from the leave-one-out residuals (their
 * mean square minus the measurements' mean σᵢ², floored at 0.6² of it), so a model that does not
 * fit (a profile table of another shape, too few modes) hands the weight back to the measurement.
 * The estimate's standard deviation σ = (1/σᵢ² + 1/σₘ²)^(-1/2) sizes the margin: the estimate is
 * inflated by z·σ (ALS uses z = 3 at the default margins). At 2.5 % noise σ ≈ 1.2–1.7 % (the law
 * misses the virtual board's power by 1.5–2.5 % beyond the noise), so the power margin is about 4 %
 * instead of 5 % on a less noisy estimate, and the chosen plans miss the budget much less often
 * (see the bench README for the measured effect). A board measured more precisely than the
 * configured noise gets margins as small as its measurements say.
 *
 * Times keep their raw measurements and their margins: z·SE where the measurements carry standard
 * errors (with the systematic part), else the configured fraction. On the benchmark the time
 * margin barely moves feasibility (power binds), and minibatch time is a smooth max of roofline and
 * CPU terms that a linear law fits poorly.
 */
import { Matrix, inverse } from 'ml-matrix';
import { systematicVariance, type SafetyMargins } from './objective.js';
import type { ModeSpace } from './space.js';
import { MeasurementTable } from './table.js';

/** Number of terms of the power law below. */
const TERMS = 21;

function powerTerms(space: ModeSpace, m: number, timeS: number, out: Float64Array): Float64Array {
  const x = (k: number): number => {
    const axis = space.axes[k]!;
    return axis[space.level(m, k)]! / axis[axis.length - 1]!;
  };
  const n = x(0);
  const c = x(1);
  const g = x(2);
  const e = x(3);
  const it = 1 / timeS;
  out[0] = 1;
  out[1] = n;
  out[2] = n * c;
  out[3] = n * c * c;
  out[4] = c;
  out[5] = c * c;
  out[6] = c * c * c;
  out[7] = g;
  out[8] = g * g;
  out[9] = g * g * g;
  out[10] = e;
  out[11] = e * e;
  out[12] = e * e * e;
  out[13] = it;
  out[14] = g * it;
  out[15] = g * g * it;
  out[16] = e * it;
  out[17] = e * e * it;
  out[18] = c * it;
  out[19] = c * c * it;
  out[20] = c * c * c * it;
  return out;
}

export interface PowerEstimateOptions {
  /** Relative noise of one measurement (the backend's σₙ). */
  readonly noise: number;
  /** Margin in units of the estimate's σ. */
  readonly z: number;
  /** Least modes for a fit (fewer: raw measurements with the plain margin). */
  readonly minModes?: number;
  /** Floor of the model's relative error, as a fraction of σₙ (never trust the fit more than this; default 0.6). */
  readonly modelFloor?: number;
}

/** Per power column: the combined relative σ (diagnostics and tests). */
export interface PowerEstimate {
  /** A copy of `measured` on `modes`: raw times; powers replaced by estimate × (1 + z·σ). */
  readonly table: MeasurementTable;
  /**
   * The margins to judge `table` with: the time margins unchanged (z·SE where its measurements carry
   * standard errors: the table's relative time errors then include the systematic part, and its
   * power errors are 0), no further power margin.
   */
  readonly margins: SafetyMargins;
  /** Combined relative σ per power column (training first, then per stream and batch); σₙ where no fit. */
  readonly sigma: Float64Array;
}

/**
 * The noise-aware table for choosing among `modes` (all measured in `measured`), see the module
 * comment. With no noise, or a power margin of 0, the measurements with the plain margins.
 */
export function noiseAwarePower(space: ModeSpace, measured: MeasurementTable, modes: ArrayLike<number>, margins: SafetyMargins, options: PowerEstimateOptions): PowerEstimate {
  const table = new MeasurementTable(measured.size, measured.inferTimeS.map((b) => b.length));
  const list = Array.from(modes);
  for (const m of list) {
    const mm = measured.get(m);
    if (mm) table.set(m, mm);
  }
  const se = measured.se;
  const pairs: [Float64Array, Float64Array, Float64Array, Float64Array | undefined][] = [[measured.trainTimeS, measured.trainPowerW, table.trainPowerW, se?.trainPowerW]];
  measured.inferTimeS.forEach((perBatch, s) => perBatch.forEach((times, b) => pairs.push([times, measured.inferPowerW[s]![b]!, table.inferPowerW[s]![b]!, se?.inferPowerW[s]![b]])));
  const sigma = new Float64Array(pairs.length).fill(options.noise);
  const sn = options.noise;
  if (!(sn > 0) || !(margins.powerFraction > 0)) return { table, margins, sigma };
  const z = options.z;
  const minModes = options.minModes ?? 2 * TERMS;
  const floor2 = (options.modelFloor ?? 0.6) ** 2;
  /** The part of a window's error its samples cannot show, as kept by mode m's windows (s²·Σwᵢ²). */
  const systematic2 = (m: number): number => systematicVariance(se!, m, margins);
  const phi = new Float64Array(TERMS);
  pairs.forEach(([times, powers, into, errors], c) => {
    const rows = list.filter((m) => times[m]! > 0 && powers[m]! > 0);
    if (rows.length >= minModes) {
      const fit = looPredictions(space, rows, times, powers, phi);
      if (fit) {
        // Each measurement's relative variance: what it carries, else the backend's noise.
        const v = rows.map((m) => {
          const e = errors?.[m];
          return e === undefined || !(e >= 0) ? sn * sn : (e / powers[m]!) ** 2 + systematic2(m);
        });
        const vMean = v.reduce((a, b) => a + b, 0) / v.length;
        // Model variance: LOO residuals' mean square minus the measurements' variance, floored.
        let ss = 0;
        for (let i = 0; i < rows.length; i++) {
          const r = Math.log(powers[rows[i]!]! / fit[i]!);
          ss += r * r;
        }
        const sm2 = Math.max(ss / rows.length - vMean, floor2 * vMean);
        let s2 = 0;
        for (let i = 0; i < rows.length; i++) {
          const m = rows[i]!;
          const wMeas = sm2 / (sm2 + v[i]!);
          const sc2 = (sm2 * v[i]!) / (sm2 + v[i]!);
          s2 += sc2;
          const est = Math.exp(wMeas * Math.log(powers[m]!) + (1 - wMeas) * Math.log(fit[i]!));
          into[m] = est * (1 + z * Math.sqrt(sc2));
        }
        sigma[c] = Math.sqrt(s2 / rows.length);
        return;
      }
    }
    for (const m of rows) into[m] = powers[m]! * (1 + margins.powerFraction);
  });
  if (margins.z !== undefined && table.se) {
    // Measured modes keep z·SE time margins (the systematic part folded into their relative time
    // errors) and no power margin beyond the estimate's: scoring reads these per mode.
    const tse = table.se;
    for (const m of list) {
      if (!table.has(m) || !(tse.timeRel[m]! >= 0)) continue;
      tse.timeRel[m] = Math.sqrt(tse.timeRel[m]! ** 2 + systematic2(m));
      tse.powerRel[m] = 0;
    }
    return { table, margins: { timeFraction: margins.timeFraction, powerFraction: 0, z: margins.z }, sigma };
  }
  return { table, margins: { timeFraction: margins.timeFraction, powerFraction: 0 }, sigma };
}

/**
 * Leave-one-out predictions of each row's power from the others (weighted least squares on
 * relative error with a tiny ridge; the hat matrix gives every LOO prediction from one fit).
 * Undefined when the system is degenerate or a prediction is not positive.
 */
function looPredictions(space: ModeSpace, rows: readonly number[], times: Float64Array, powers: Float64Array, phi: Float64Array): Float64Array | undefined {
  const n = rows.length;
  const X = new Matrix(n, TERMS);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const m = rows[i]!;
    powerTerms(space, m, times[m]!, phi);
    const w = 1 / powers[m]!; // sqrt of the weight 1/P²: relative error
    for (let j = 0; j < TERMS; j++) X.set(i, j, phi[j]! * w);
    y[i] = 1; // P·w
  }
  const xt = X.transpose();
  const xtx = xt.mmul(X);
  for (let j = 0; j < TERMS; j++) xtx.set(j, j, xtx.get(j, j) * (1 + 1e-6) + 1e-12);
  let inv: Matrix;
  try {
    inv = inverse(xtx);
  } catch {
    return undefined;
  }
  const beta = inv.mmul(xt.mmul(Matrix.columnVector(Array.from(y)))).getColumn(0);
  const out = new Float64Array(n);
  const xi = new Float64Array(TERMS);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < TERMS; j++) xi[j] = X.get(i, j);
    let fitted = 0;
    let h = 0;
    for (let j = 0; j < TERMS; j++) {
      fitted += xi[j]! * beta[j]!;
      let s = 0;
      for (let k = 0; k < TERMS; k++) s += inv.get(j, k) * xi[k]!;
      h += xi[j]! * s;
    }
    if (!(h < 0.999)) return undefined;
    // Relative residual r = 1 − fitted; the LOO residual is r/(1 − h); prediction = P·(1 − r_loo).
    const rLoo = (1 - fitted) / (1 - h);
    const p = powers[rows[i]!]! * (1 - rLoo);
    if (!(p > 0)) return undefined;
    out[i] = p;
  }
  return out;
}
