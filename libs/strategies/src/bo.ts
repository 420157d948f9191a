/**
 * Constrained Bayesian optimisation (SPEC §5 baseline): Gaussian processes over the four normalised
 * knob levels, expected improvement weighted by the probability of feasibility (Gardner et al.,
 * ICML 2014), 15 profiled modes.
 *
 * * Objective GP: log X of a mode's best plan for this problem (X from the measurements).
 *   Constraint GP: the signed worst relative constraint value with the safety margins (≤ 0 feasible).
 * * Kernel: Matérn 5/2 with a fixed length scale of 0.35 (in units of each knob's level range), unit
 *   variance on standardised outputs, a nugget of 1e-3 for the measurement noise. Hyperparameters
 *   are fixed rather than fitted: with 5–15 points a marginal-likelihood fit is unstable, and a fixed
 *   kernel keeps the baseline reproducible.
 * * The acquisition is maximised over a fixed pool of 400 random modes per key (discrete BO), so the
 *   initial design's Cholesky factor (ml-matrix), the pool's own kernel matrix and its cross-covariances
 *   are shared by every problem of the key; each new point extends the factor by one row, with no
 *   kernel evaluation.
 * * Start: MAXN and 4 Latin-hypercube modes; then 10 acquisitions. With nothing feasible yet, the
 *   acquisition is the probability of feasibility alone.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { ModeScore, better, scoreMode, type Objective } from './objective.js';
import { createRng, seedFrom, sample } from './rng.js';
import type { ModeSpace } from './space.js';
import { tableKeyText, type MeasurementTable } from './table.js';
import type { PreparedStrategy, Profiling, Strategy, StrategyContext } from './strategy.js';

export interface BoOptions {
  readonly modes: number;
  readonly initialModes: number;
  readonly pool: number;
  readonly lengthScale: number;
  readonly nugget: number;
}

export const DEFAULT_BO_OPTIONS: BoOptions = { modes: 15, initialModes: 5, pool: 400, lengthScale: 0.35, nugget: 1e-3 };

function matern52(d2: number, ell: number): number {
  const r = Math.sqrt(5 * d2) / ell;
  return (1 + r + (r * r) / 3) * Math.exp(-r);
}

/** Inverse-free helpers for the standard normal. */
const SQRT2 = Math.SQRT2;
function normCdf(z: number): number {
  return 0.5 * (1 + erf(z / SQRT2));
}
function normPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}
/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** The GP state that depends only on where it has observed: the Cholesky factor and the pool's projections. */
class GpDesign {
  constructor(
    readonly pool: Int32Array,
    /** k(pool[i], pool[j]), row-major: every acquisition picks from the pool, so the kernel is looked up, not recomputed. */
    readonly poolKernel: Float64Array,
    readonly capacity: number,
    readonly options: BoOptions,
    /** Observed modes, in order. */
    readonly modes: readonly number[],
    /** Per observed mode, its kernel against every pool mode (shared, never written). */
    readonly kernelRows: readonly Float64Array[],
    /** Lower-triangular factor of K + nugget·I, row-major n×n (n ≤ capacity). */
    readonly chol: Float64Array,
    /** V = L⁻¹·K(X, pool): n rows of `pool.length`. */
    readonly projections: readonly Float64Array[],
    /** Prior variance left at each pool mode: 1 − Σ V². */
    readonly poolVariance: Float64Array,
    /** L⁻¹·1 (n entries) and Vᵀ·L⁻¹·1 (per pool mode): the posterior mean of a constant, for standardising. */
    readonly onesWhite: Float64Array,
    readonly onesMean: Float64Array,
  ) {}

  /** The initial design's factor with ml-matrix. */
  static initial(coords: Float64Array, pool: Int32Array, capacity: number, options: BoOptions, modes: readonly number[]): GpDesign {
    const kernel = (a: number, b: number): number => {
      let d2 = 0;
      for (let k = 0; k < 4; k++) {
        const d = coords[a * 4 + k]! - coords[b * 4 + k]!;
        d2 += d * d;
      }
      return matern52(d2, options.lengthScale);
    };
    const poolKernel = new Float64Array(pool.length * pool.length);
    for (let i = 0; i < pool.length; i++) {
      poolKernel[i * pool.length + i] = 1;
      for (let j = 0; j < i; j++) poolKernel[i * pool.length + j] = poolKernel[j * pool.length + i] = kernel(pool[i]!, pool[j]!);
    }
    const kernelRows = modes.map((m) => Float64Array.from(pool, (p) => kernel(m, p)));
    const n = modes.length;
    const k = new Matrix(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) k.set(i, j, kernel(modes[i]!, modes[j]!) + (i === j ? options.nugget : 0));
    const l = new CholeskyDecomposition(k).lowerTriangularMatrix;
    const chol = new Float64Array(capacity * capacity);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) chol[i * capacity + j] = l.get(i, j);
    const projections: Float64Array[] = [];
    const variance = new Float64Array(pool.length).fill(1);
    for (let i = 0; i < n; i++) {
      const row = new Float64Array(pool.length);
      const kr = kernelRows[i]!;
      for (let c = 0; c < pool.length; c++) {
        let s = kr[c]!;
        for (let j = 0; j < i; j++) s -= chol[i * capacity + j]! * projections[j]![c]!;
        row[c] = s / chol[i * capacity + i]!;
        variance[c]! -= row[c]! * row[c]!;
      }
      projections.push(row);
    }
    const onesWhite = new Float64Array(capacity);
    const onesMean = new Float64Array(pool.length);
    for (let i = 0; i < n; i++) {
      let v = 1;
      for (let j = 0; j < i; j++) v -= chol[i * capacity + j]! * onesWhite[j]!;
      onesWhite[i] = v / chol[i * capacity + i]!;
      const row = projections[i]!;
      for (let c = 0; c < pool.length; c++) onesMean[c]! += row[c]! * onesWhite[i]!;
    }
    return new GpDesign(pool, poolKernel, capacity, options, [...modes], kernelRows, chol, projections, variance, onesWhite, onesMean);
  }

  /** Designs extended from this one, by pool position (see `extendedShared`). */
  private children: Map<number, GpDesign> | undefined;

  /**
   * `extended(j)`, shared: problems of one key often pick the same first modes, and the extension
   * depends only on the design and the mode. `budget.left` bounds how many designs a key keeps.
   */
  extendedShared(j: number, budget: { left: number }): GpDesign {
    let child = this.children?.get(j);
    if (child) return child;
    child = this.extended(j);
    if (budget.left > 0) {
      budget.left--;
      (this.children ??= new Map()).set(j, child);
    }
    return child;
  }

  /** A copy extended by the pool mode at position j (one new row of the factor and of V). */
  extended(j: number): GpDesign {
    const n = this.modes.length;
    const cap = this.capacity;
    const size = this.pool.length;
    const chol = Float64Array.from(this.chol);
    // l = L⁻¹ k(X, m), d = sqrt(k(m, m) + nugget − |l|²)
    let norm = 0;
    for (let r = 0; r < n; r++) {
      let s = this.kernelRows[r]![j]!;
      for (let i = 0; i < r; i++) s -= chol[r * cap + i]! * chol[n * cap + i]!;
      const v = s / chol[r * cap + r]!;
      chol[n * cap + r] = v;
      norm += v * v;
    }
    const d = Math.sqrt(Math.max(1e-12, 1 + this.options.nugget - norm));
    chol[n * cap + n] = d;
    const kernelRow = this.poolKernel.subarray(j * size, (j + 1) * size);
    const row = Float64Array.from(kernelRow);
    for (let r = 0; r < n; r++) {
      const v = this.projections[r]!;
      const l = chol[n * cap + r]!;
      for (let c = 0; c < size; c++) row[c]! -= l * v[c]!;
    }
    const variance = Float64Array.from(this.poolVariance);
    const onesWhite = Float64Array.from(this.onesWhite);
    let one = 1;
    for (let r = 0; r < n; r++) one -= chol[n * cap + r]! * onesWhite[r]!;
    onesWhite[n] = one / d;
    const onesMean = Float64Array.from(this.onesMean);
    for (let c = 0; c < size; c++) {
      row[c]! /= d;
      variance[c]! -= row[c]! * row[c]!;
      onesMean[c]! += row[c]! * onesWhite[n]!;
    }
    return new GpDesign(this.pool, this.poolKernel, cap, this.options, [...this.modes, this.pool[j]!], [...this.kernelRows, kernelRow], chol, [...this.projections, row], variance, onesWhite, onesMean);
  }
}

interface BoShared {
  readonly initial: number[];
  readonly design: GpDesign;
  /** How many more extended designs the key may keep (each adds one row of V, the variances and the factor: about 9 kB). */
  readonly cacheBudget: { left: number };
}

const shared = new WeakMap<MeasurementTable, Map<string, BoShared>>();

function sharedFor(ctx: StrategyContext, options: BoOptions): BoShared {
  let byOptions = shared.get(ctx.measured);
  if (!byOptions) shared.set(ctx.measured, (byOptions = new Map()));
  const id = JSON.stringify(options);
  let s = byOptions.get(id);
  if (!s) {
    const { space } = ctx;
    const rng = createRng(seedFrom(`bo|${tableKeyText(ctx.key)}`));
    const coords = new Float64Array(space.size * 4);
    const u = [0, 0, 0, 0];
    for (const m of space.indices) {
      space.unitCoordinates(m, u);
      coords.set(u, m * 4);
    }
    const initial = [space.topIndex(), ...latin(space, options.initialModes - 1, rng)].filter((m, i, a) => a.indexOf(m) === i);
    const pool = Int32Array.from(sample(rng, Array.from(space.indices), options.pool));
    s = { initial, design: GpDesign.initial(coords, pool, options.modes + 1, options, initial), cacheBudget: { left: 4000 } };
    byOptions.set(id, s);
  }
  return s;
}

function latin(space: ModeSpace, n: number, rng: { next(): number; int(n: number): number }): number[] {
  const perms = space.dims.map(() => {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  });
  return Array.from({ length: n }, (_, i) =>
    space.nearestAvailable(space.indexOfLevels(space.dims.map((d, k) => Math.min(d - 1, Math.floor(((perms[k]![i]! + rng.next()) / n) * d))))),
  );
}

function moments(y: readonly number[]): { mean: number; std: number } {
  let mean = 0;
  for (const v of y) mean += v;
  mean /= y.length;
  let v2 = 0;
  for (const v of y) v2 += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(v2 / y.length) || 1 };
}

export function bayesianOptimisation(options: BoOptions = DEFAULT_BO_OPTIONS): Strategy {
  return {
    name: `bo-${options.modes}`,
    description: `constrained Bayesian optimisation: GPs (Matérn 5/2) on log X and the constraint slack, expected improvement × probability of feasibility, ${options.modes} modes`,
    // eslint-disable-next-line require-yield
    *prepare(ctx): Profiling<PreparedStrategy> {
      return {
        *answer(obj: Objective) {
          const { measured, margins } = ctx;
          const s = sharedFor(ctx, options);
          const budget = Math.min(options.modes, ctx.space.count);
          const first = s.initial.slice(0, budget);
          yield first;
          let design = s.design;
          let profiled = first.length;
          const score = new ModeScore(obj.streamCount);
          const best = new ModeScore(obj.streamCount);
          best.modeIndex = -1;
          const logX: number[] = [];
          const slack: number[] = [];
          const observe = (m: number): void => {
            scoreMode(measured, m, obj, margins, score);
            logX.push(Math.log(Math.max(score.throughput, 1e-9)));
            slack.push(Math.max(-1, Math.min(2, score.slack)));
            if (score.measurable && (best.modeIndex < 0 || better(score, best))) best.copyFrom(score);
          };
          for (const m of design.modes) observe(m);
          const pool = design.pool;
          // Pool positions profiled so far (the initial modes that are in the pool, then the picks).
          const taken = Uint8Array.from(pool, (m) => (first.includes(m) ? 1 : 0));
          // The raw outputs whitened (L⁻¹y) and projected on the pool (Vᵀ·L⁻¹y), one row per
          // observation: a new observation adds a row, and standardising is a shift by the
          // design's constant term, so nothing is recomputed.
          const whiteF = new Float64Array(design.capacity);
          const whiteC = new Float64Array(design.capacity);
          const sumF = new Float64Array(pool.length);
          const sumC = new Float64Array(pool.length);
          let rows = 0;
          const addRows = (): void => {
            const cap = design.capacity;
            for (; rows < logX.length; rows++) {
              let f = logX[rows]!;
              let c = slack[rows]!;
              for (let j = 0; j < rows; j++) {
                const l = design.chol[rows * cap + j]!;
                f -= l * whiteF[j]!;
                c -= l * whiteC[j]!;
              }
              const d = design.chol[rows * cap + rows]!;
              whiteF[rows] = f / d;
              whiteC[rows] = c / d;
              const v = design.projections[rows]!;
              for (let k = 0; k < pool.length; k++) {
                sumF[k]! += v[k]! * whiteF[rows]!;
                sumC[k]! += v[k]! * whiteC[rows]!;
              }
            }
          };
          while (profiled < budget) {
            addRows();
            const f = moments(logX);
            const c = moments(slack);
            const bestFeasible = best.modeIndex >= 0 && best.feasible ? (Math.log(best.throughput) - f.mean) / f.std : undefined;
            const cZero = (0 - c.mean) / c.std;
            let pick = -1;
            let pickValue = -Infinity;
            for (let j = 0; j < pool.length; j++) {
              if (taken[j] === 1) continue;
              // Posterior means of the standardised outputs.
              const mf = (sumF[j]! - f.mean * design.onesMean[j]!) / f.std;
              const mc = (sumC[j]! - c.mean * design.onesMean[j]!) / c.std;
              const sd = Math.sqrt(Math.max(1e-12, design.poolVariance[j]!));
              const pof = normCdf((cZero - mc) / sd);
              let value: number;
              if (bestFeasible === undefined) value = pof;
              else {
                const z = (mf - bestFeasible) / sd;
                value = ((mf - bestFeasible) * normCdf(z) + sd * normPdf(z)) * pof;
              }
              if (value > pickValue) {
                pickValue = value;
                pick = j;
              }
            }
            if (pick < 0) break;
            const m = pool[pick]!;
            yield [m];
            profiled++;
            taken[pick] = 1;
            design = design.extendedShared(pick, s.cacheBudget);
            observe(m);
          }
          return best.modeIndex < 0 ? undefined : best.clone();
        },
      };
    },
  };
}
