/**
 * A roofline-shaped model of minibatch time and power over the four knobs, fitted to a few profiled
 * modes: GMD's map of the space between its measurements.
 *
 * Time is a smooth maximum (an L2 norm) of the roofline's terms, each inversely proportional to
 * the clock that bounds it (SPEC §3): GPU compute, memory traffic, and the CPU side, which also
 * depends on how many cores share it:
 *
 *   t² = c₀ + c_g/x_g² + c_e/x_e² + c_c/x_c² + c_n/(x_c·n)²         (every c ≥ 0)
 *
 * (x = clock / top clock, n = online cores / top cores). It is linear in the c's, so non-negative
 * least squares fits it exactly; the square gives the knee where one roof hands over to another,
 * which a log-linear law (one exponent per knob) cannot: that law was 40–60 % off on average over
 * the 18,096 Orin modes from GMD's six design modes, this one 8–19 %.
 *
 * Power is static power plus leakage of the online cores plus dynamic power f·V² (V rising linearly
 * with f) per clock domain, the GPU and memory terms weighted by how busy the roofline says each
 * is (its term's share of the minibatch time):
 *
 *   P = a₀ + a₁·n·Vc² + a₂·φ(x_c) + a₃·φ(x_g)·u_g + a₄·φ(x_e)·u_e + a₅·φ(x_g) + a₆·φ(x_e)
 *
 * with u_g = √c_g/x_g / t and u_e = √c_e/x_e / t from the matching time column (training power from
 * training time, inference power at batch b from inference time at b), a₁…a₆ ≥ 0. The laws are
 * generic (roofline time, CMOS power); they are the shapes the virtual Jetson is built on, so a real
 * board will fit them less closely. Fits are weighted by relative error. With `sharedPower` the
 * board's terms (a₀, a₁, a₅, a₆) are fitted once for every power column, the work's (a₂, a₃, a₄)
 * per column (see `fitSharedPower`).
 */
import type { ModeSpace } from './space.js';
import type { MeasurementTable } from './table.js';

const TIME_TERMS = 5;
const POWER_TERMS = 7;
/** The power terms that are the board's (static, leakage, GPU and memory clock trees) and those of the work. */
const SHARED = [0, 1, 5, 6] as const;
const OWN = [2, 3, 4] as const;
/** Most power columns fitted together (4 + 3 per column unknowns). */
const SHARED_POWER_COLUMNS = 32;
/** Voltage at the bottom of a clock range relative to the top: a generic DVFS assumption. */
const V0 = 0.6;

function dvfs(x: number): number {
  const v = V0 + (1 - V0) * x;
  return x * v * v;
}

/**
 * Non-negative least squares on the normal equations G·c = h (Lawson–Hanson), with the variables
 * marked free left unconstrained. Small problems only (a handful of terms).
 */
export function nnlsNormal(G: Float64Array, h: Float64Array, p: number, free: readonly boolean[]): Float64Array {
  const x = new Float64Array(p);
  const inP = free.map((f) => f);
  const idx = new Int32Array(p);
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  const z = new Float64Array(p);
  /** The least-squares solution on the passive set, in `z` (overwritten by the next call). */
  const solveOn = (): Float64Array => {
    let k = 0;
    for (let j = 0; j < p; j++) if (inP[j]) idx[k++] = j;
    z.fill(0);
    if (k === 0) return z;
    for (let r = 0; r < k; r++) {
      b[r] = h[idx[r]!]!;
      for (let c = 0; c < k; c++) A[r * k + c] = G[idx[r]! * p + idx[c]!]!;
      // A touch of ridge keeps rank-deficient fits (fewer modes than terms) finite.
      A[r * k + r]! += 1e-9 * (A[r * k + r]! + 1e-12);
    }
    gaussSolve(A, b, k);
    for (let r = 0; r < k; r++) z[idx[r]!] = b[r]!;
    return z;
  };
  // Most fits need no constraint: try every variable at once first.
  for (let j = 0; j < p; j++) inP[j] = true;
  const all = solveOn();
  let allOk = true;
  for (let j = 0; j < p; j++) if (!free[j] && !(all[j]! >= 0)) allOk = false;
  if (allOk) return Float64Array.from(all);
  for (let j = 0; j < p; j++) inP[j] = free[j]!;
  x.set(solveOn());
  // Free variables only so far; constrained ones enter while they would lower the residual.
  for (let outer = 0; outer < 3 * p; outer++) {
    // Gradient of the residual: w = h − G·x.
    let best = -1;
    let bestW = 1e-12;
    for (let j = 0; j < p; j++) {
      if (inP[j]) continue;
      let w = h[j]!;
      for (let c = 0; c < p; c++) w -= G[j * p + c]! * x[c]!;
      const scale = Math.sqrt(Math.max(G[j * p + j]!, 1e-300));
      if (w / scale > bestW) {
        bestW = w / scale;
        best = j;
      }
    }
    if (best < 0) break;
    inP[best] = true;
    for (let inner = 0; inner < 3 * p; inner++) {
      const z = solveOn();
      let alpha = Infinity;
      for (let j = 0; j < p; j++) {
        if (!inP[j] || free[j] || z[j]! > 0) continue;
        const a = x[j]! / (x[j]! - z[j]!);
        if (a < alpha) alpha = a;
      }
      if (alpha === Infinity) {
        x.set(z);
        break;
      }
      for (let j = 0; j < p; j++) x[j] = x[j]! + alpha * (z[j]! - x[j]!);
      for (let j = 0; j < p; j++) {
        if (inP[j] && !free[j] && x[j]! <= 1e-15) {
          inP[j] = false;
          x[j] = 0;
        }
      }
    }
  }
  for (let j = 0; j < p; j++) if (!free[j] && x[j]! < 0) x[j] = 0;
  return x;
}

/** Adds one weighted observation (features f, target y) to the upper triangle of G and to h. */
function accumulate(G: Float64Array, h: Float64Array, f: Float64Array, p: number, w: number, y: number): void {
  for (let a = 0; a < p; a++) {
    const wa = w * f[a]!;
    h[a]! += wa * y;
    for (let b = a; b < p; b++) G[a * p + b]! += wa * f[b]!;
  }
}

/** Copies the upper triangle of a p×p row-major matrix to the lower one. */
function mirror(G: Float64Array, p: number): void {
  for (let a = 1; a < p; a++) for (let b = 0; b < a; b++) G[a * p + b] = G[b * p + a]!;
}

/** Solves A·x = b in place (b becomes x), partial pivoting; singular pivots give 0. */
export function gaussSolve(A: Float64Array, b: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    let piv = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(A[r * n + i]!) > Math.abs(A[piv * n + i]!)) piv = r;
    if (piv !== i) {
      for (let c = 0; c < n; c++) {
        const t = A[i * n + c]!;
        A[i * n + c] = A[piv * n + c]!;
        A[piv * n + c] = t;
      }
      const t = b[i]!;
      b[i] = b[piv]!;
      b[piv] = t;
    }
    const d = A[i * n + i]!;
    if (Math.abs(d) < 1e-300) continue;
    for (let r = i + 1; r < n; r++) {
      const f = A[r * n + i]! / d;
      if (f === 0) continue;
      for (let c = i; c < n; c++) A[r * n + c]! -= f * A[i * n + c]!;
      b[r]! -= f * b[i]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let c = i + 1; c < n; c++) s -= A[i * n + c]! * b[c]!;
    const d = A[i * n + i]!;
    b[i] = Math.abs(d) < 1e-300 ? 0 : s / d;
  }
}

/** Every column of a table in a fixed order: training time, training power, then per stream and batch times, then powers. */
export function tableColumns(t: MeasurementTable): Float64Array[] {
  return [t.trainTimeS, t.trainPowerW, ...t.inferTimeS.flat(), ...t.inferPowerW.flat()];
}

/** For each column: -1 for a time column, else the index of the time column its power pairs with. */
function pairing(t: MeasurementTable): Int32Array {
  let inferColumns = 0;
  for (const perBatch of t.inferTimeS) inferColumns += perBatch.length;
  const out = new Int32Array(2 + 2 * inferColumns);
  out[0] = -1;
  out[1] = 0;
  for (let i = 0; i < inferColumns; i++) {
    out[2 + i] = -1;
    out[2 + inferColumns + i] = 2 + i;
  }
  return out;
}

/** Knob ratios of every mode of a space (x = value / top value), computed once per space. */
const ratioCache = new WeakMap<ModeSpace, Float64Array>();
function knobRatios(space: ModeSpace): Float64Array {
  let r = ratioCache.get(space);
  if (!r) {
    r = new Float64Array(space.size * 4);
    for (const m of space.indices) {
      for (let k = 0; k < 4; k++) {
        const axis = space.axes[k]!;
        r[m * 4 + k] = axis[space.level(m, k)]! / axis[axis.length - 1]!;
      }
    }
    ratioCache.set(space, r);
  }
  return r;
}

function timeFeatures(r: Float64Array, m: number, out: Float64Array): void {
  const n = r[m * 4]!;
  const c = r[m * 4 + 1]!;
  const g = r[m * 4 + 2]!;
  const e = r[m * 4 + 3]!;
  out[0] = 1;
  out[1] = 1 / (g * g);
  out[2] = 1 / (e * e);
  out[3] = 1 / (c * c);
  out[4] = 1 / (c * c * n * n);
}

export class RooflineModel {
  /** Per column: its coefficients (time: 5, power: 7). */
  private readonly coef: Float64Array[];
  private readonly pair: Int32Array;
  private readonly ratios: Float64Array;
  /** Per column: multiplier that makes the model pass through the anchor's measurement (1 without one). */
  private readonly scale: Float64Array;
  private readonly ft = new Float64Array(TIME_TERMS);
  private readonly fp = new Float64Array(POWER_TERMS);
  /** Scratch: raw times of the mode being predicted, per time column (read by the power columns). */
  private readonly times: Float64Array;
  readonly columnCount: number;
  /**
   * Per column, 4 slopes of a log-linear correction in the knob ratios around the anchor (see
   * `correction` in the constructor); undefined without one.
   */
  private readonly slopes: Float64Array | undefined;
  /** log knob ratios of the anchor (with a correction). */
  private readonly anchorLog = new Float64Array(4);
  private readonly delta = new Float64Array(4);

  /**
   * Fits every column over `modes` (all measured in `measured`), weighted by `weights` (default 1).
   * With an anchor, each column is rescaled to pass through the anchor's measurement. With a
   * `correction` too, what the shape still gets wrong around the anchor is taken from the
   * measurements: per column, log(measured / predicted) of the other modes is fitted (weighted by
   * `correction.weights`, ridge `correction.ridge` toward no correction) by a linear function of
   * the knobs' log ratios to the anchor's, and predictions are multiplied by its exponential (at
   * most ×/÷ e^`correction.limit`). Where the shape is right the residuals are small and so is the
   * correction; where it is wrong (a law outside the roofline) the measured slopes take over.
   */
  constructor(
    readonly space: ModeSpace,
    measured: MeasurementTable,
    modes: readonly number[],
    weights?: readonly number[],
    anchor?: number,
    correction?: { readonly weights: readonly number[]; readonly ridge: number; readonly limit: number },
    fit: { readonly sharedPower?: boolean } = {},
  ) {
    this.ratios = knobRatios(space);
    this.pair = pairing(measured);
    const cols = tableColumns(measured);
    this.columnCount = cols.length;
    this.times = new Float64Array(cols.length);
    const w = weights ?? modes.map(() => 1);
    this.coef = new Array<Float64Array>(cols.length);
    const ft = this.ft;
    const Gt = new Float64Array(TIME_TERMS * TIME_TERMS);
    const ht = new Float64Array(TIME_TERMS);
    const freeT = [false, false, false, false, false];
    for (let c = 0; c < cols.length; c++) {
      if (this.pair[c] !== -1) continue;
      Gt.fill(0);
      ht.fill(0);
      const col = cols[c]!;
      let ok = modes.length > 0;
      for (let i = 0; i < modes.length && ok; i++) {
        const t = col[modes[i]!]!;
        if (!(t > 0)) {
          ok = false;
          break;
        }
        const y = t * t;
        const wi = w[i]! / (y * y);
        timeFeatures(this.ratios, modes[i]!, ft);
        accumulate(Gt, ht, ft, TIME_TERMS, wi, y);
      }
      mirror(Gt, TIME_TERMS);
      this.coef[c] = ok ? nnlsNormal(Gt, ht, TIME_TERMS, freeT) : new Float64Array(TIME_TERMS).fill(Number.NaN);
    }
    // A power column is fitted where its time column is and every mode measured it.
    const usable: number[] = [];
    for (let c = 0; c < cols.length; c++) {
      const tc = this.pair[c]!;
      if (tc === -1) continue;
      if (modes.length > 0 && !Number.isNaN(this.coef[tc]![0]!) && modes.every((m) => cols[c]![m]! > 0)) usable.push(c);
      else this.coef[c] = new Float64Array(POWER_TERMS).fill(Number.NaN);
    }
    if (fit.sharedPower && usable.length >= 2 && usable.length <= SHARED_POWER_COLUMNS) this.fitSharedPower(usable, cols, modes, w);
    else {
      const fp = this.fp;
      const Gp = new Float64Array(POWER_TERMS * POWER_TERMS);
      const hp = new Float64Array(POWER_TERMS);
      const freeP = [true, false, false, false, false, false, false];
      for (const c of usable) {
        const tc = this.pair[c]!;
        Gp.fill(0);
        hp.fill(0);
        for (let i = 0; i < modes.length; i++) {
          const y = cols[c]![modes[i]!]!;
          this.powerFeatures(modes[i]!, tc, fp);
          accumulate(Gp, hp, fp, POWER_TERMS, w[i]! / (y * y), y);
        }
        mirror(Gp, POWER_TERMS);
        this.coef[c] = nnlsNormal(Gp, hp, POWER_TERMS, freeP);
      }
    }
    this.scale = new Float64Array(cols.length).fill(1);
    if (anchor !== undefined) {
      for (let c = 0; c < cols.length; c++) {
        const v = cols[c]![anchor]!;
        const p = this.predictColumn(anchor, c);
        if (v > 0 && p > 0) this.scale[c] = v / p;
      }
    }
    this.limit = correction?.limit ?? 0;
    if (anchor !== undefined && correction) {
      const r = this.ratios;
      for (let k = 0; k < 4; k++) this.anchorLog[k] = Math.log(r[anchor * 4 + k]!);
      const slopes = new Float64Array(cols.length * 4);
      const G = new Float64Array(16);
      const h = new Float64Array(4);
      const d = new Float64Array(4);
      const free = [true, true, true, true];
      for (let c = 0; c < cols.length; c++) {
        G.fill(0);
        h.fill(0);
        for (let k = 0; k < 4; k++) G[k * 5] = correction.ridge;
        let any = false;
        for (let i = 0; i < modes.length; i++) {
          const m = modes[i]!;
          if (m === anchor) continue;
          const v = cols[c]![m]!;
          const p = this.predictColumn(m, c) * this.scale[c]!;
          if (!(v > 0) || !(p > 0)) continue;
          for (let k = 0; k < 4; k++) d[k] = Math.log(r[m * 4 + k]!) - this.anchorLog[k]!;
          accumulate(G, h, d, 4, correction.weights[i]!, Math.log(v / p));
          any = true;
        }
        if (!any) continue;
        // accumulate adds to the upper triangle only (the ridge sits on the diagonal).
        mirror(G, 4);
        slopes.set(nnlsNormal(G, h, 4, free), c * 4);
      }
      this.slopes = slopes;
    }
  }

  private readonly limit: number;

  /**
   * Refits the power columns together: the board's terms — static power a₀, the online cores'
   * leakage a₁, the GPU and memory clock trees a₅, a₆ — are the board's, the same whatever runs,
   * so one value of each serves every column, while the terms of the work itself (a₂ the CPU side,
   * a₃, a₄ the GPU's and memory's busy power) stay per column. Every column's measurements then
   * pin the board's terms, which one column's few modes leave to its noise. For 2 to
   * SHARED_POWER_COLUMNS usable columns (others keep the per-column fits).
   */
  private fitSharedPower(powerCols: readonly number[], cols: readonly Float64Array[], modes: readonly number[], w: readonly number[]): void {
    const p = SHARED.length + OWN.length * powerCols.length;
    const G = new Float64Array(p * p);
    const h = new Float64Array(p);
    const fp = this.fp;
    const idx = new Int32Array(SHARED.length + OWN.length);
    for (let j = 0; j < powerCols.length; j++) {
      const c = powerCols[j]!;
      const tc = this.pair[c]!;
      for (let a = 0; a < SHARED.length; a++) idx[a] = a;
      for (let a = 0; a < OWN.length; a++) idx[SHARED.length + a] = SHARED.length + OWN.length * j + a;
      for (let i = 0; i < modes.length; i++) {
        const y = cols[c]![modes[i]!]!;
        const wi = w[i]! / (y * y);
        this.powerFeatures(modes[i]!, tc, fp);
        for (let a = 0; a < idx.length; a++) {
          const fa = fp[a < SHARED.length ? SHARED[a]! : OWN[a - SHARED.length]!]!;
          h[idx[a]!]! += wi * fa * y;
          for (let b = 0; b < idx.length; b++) {
            const fb = fp[b < SHARED.length ? SHARED[b]! : OWN[b - SHARED.length]!]!;
            G[idx[a]! * p + idx[b]!]! += wi * fa * fb;
          }
        }
      }
    }
    // Static power may come out negative (a fit's offset); every other term is a power, ≥ 0.
    const free = Array.from({ length: p }, (_, i) => i === 0);
    const x = nnlsNormal(G, h, p, free);
    for (let j = 0; j < powerCols.length; j++) {
      const k = new Float64Array(POWER_TERMS);
      SHARED.forEach((t, a) => (k[t] = x[a]!));
      OWN.forEach((t, a) => (k[t] = x[SHARED.length + OWN.length * j + a]!));
      this.coef[powerCols[j]!] = k;
    }
  }

  /** The correction factor of column c at the mode whose log-ratio offsets are in `delta`. */
  private correctionOf(c: number): number {
    const g = this.slopes!;
    const d = this.delta;
    let s = g[c * 4]! * d[0]! + g[c * 4 + 1]! * d[1]! + g[c * 4 + 2]! * d[2]! + g[c * 4 + 3]! * d[3]!;
    if (s > this.limit) s = this.limit;
    else if (s < -this.limit) s = -this.limit;
    return Math.exp(s);
  }

  private powerFeatures(m: number, timeColumn: number, out: Float64Array): void {
    const r = this.ratios;
    const n = r[m * 4]!;
    const c = r[m * 4 + 1]!;
    const g = r[m * 4 + 2]!;
    const e = r[m * 4 + 3]!;
    const k = this.coef[timeColumn]!;
    const t = this.rawTime(m, timeColumn);
    const vc = V0 + (1 - V0) * c;
    const ug = t > 0 ? Math.sqrt(k[1]!) / g / t : 0;
    const ue = t > 0 ? Math.sqrt(k[2]!) / e / t : 0;
    out[0] = 1;
    out[1] = n * vc * vc;
    out[2] = dvfs(c);
    out[3] = dvfs(g) * ug;
    out[4] = dvfs(e) * ue;
    out[5] = dvfs(g);
    out[6] = dvfs(e);
  }

  private rawTime(m: number, c: number): number {
    timeFeatures(this.ratios, m, this.ft);
    const k = this.coef[c]!;
    let s = 0;
    for (let a = 0; a < TIME_TERMS; a++) s += k[a]! * this.ft[a]!;
    return Math.sqrt(Math.max(s, 1e-300));
  }

  /** The model's value of column c at mode m (before the anchor's rescaling). */
  private predictColumn(m: number, c: number): number {
    const tc = this.pair[c]!;
    if (tc === -1) return this.rawTime(m, c);
    const k = this.coef[c]!;
    this.powerFeatures(m, tc, this.fp);
    let s = 0;
    for (let a = 0; a < POWER_TERMS; a++) s += k[a]! * this.fp[a]!;
    return s;
  }

  /** Writes the prediction of mode m into slot `slot` of every column of `dst` (tableColumns order). */
  predictInto(m: number, dst: readonly Float64Array[], slot: number): void {
    // The hot path of GMD's descent and ALS's picks: features once per mode, each time once.
    const r = this.ratios;
    const n = r[m * 4]!;
    const c = r[m * 4 + 1]!;
    const g = r[m * 4 + 2]!;
    const e = r[m * 4 + 3]!;
    const ig2 = 1 / (g * g);
    const ie2 = 1 / (e * e);
    const ic2 = 1 / (c * c);
    const icn2 = ic2 / (n * n);
    const vc = V0 + (1 - V0) * c;
    const leak = n * vc * vc;
    const dc = dvfs(c);
    const dg = dvfs(g);
    const de = dvfs(e);
    const times = this.times;
    const corrected = this.slopes !== undefined;
    if (corrected) {
      this.delta[0] = Math.log(n) - this.anchorLog[0]!;
      this.delta[1] = Math.log(c) - this.anchorLog[1]!;
      this.delta[2] = Math.log(g) - this.anchorLog[2]!;
      this.delta[3] = Math.log(e) - this.anchorLog[3]!;
    }
    for (let col = 0; col < this.columnCount; col++) {
      if (this.pair[col] !== -1) continue;
      const k = this.coef[col]!;
      const t = Math.sqrt(Math.max(k[0]! + k[1]! * ig2 + k[2]! * ie2 + k[3]! * ic2 + k[4]! * icn2, 1e-300));
      times[col] = t;
      dst[col]![slot] = t * this.scale[col]! * (corrected ? this.correctionOf(col) : 1);
    }
    for (let col = 0; col < this.columnCount; col++) {
      const tc = this.pair[col]!;
      if (tc === -1) continue;
      const kt = this.coef[tc]!;
      const t = times[tc]!;
      const ug = t > 0 ? Math.sqrt(kt[1]!) / g / t : 0;
      const ue = t > 0 ? Math.sqrt(kt[2]!) / e / t : 0;
      const k = this.coef[col]!;
      dst[col]![slot] = (k[0]! + k[1]! * leak + k[2]! * dc + k[3]! * dg * ug + k[4]! * de * ue + k[5]! * dg + k[6]! * de) * this.scale[col]! * (corrected ? this.correctionOf(col) : 1);
    }
  }
}

/**
 * The local model around an anchor: the roofline model refitted to every profiled mode, weighted by
 * closeness to the anchor (1 / (1 + d²/0.25²), d the distance in knob levels scaled to [0, 1] per
 * knob) and rescaled through the anchor's measurements; with `ridge` > 0, corrected by what the
 * nearest measurements say the shape gets wrong (per column, a log-linear slope in the knobs, ridge
 * `ridge`: on a board whose laws are not the roofline's, the measured slopes take over). GMD's
 * descent uses it as its gradient, refreshed with every profile; ALS's local searches on exact
 * measurements, around each anchor.
 */
export function localModel(space: ModeSpace, measured: MeasurementTable, profiled: readonly number[], anchor: number, ridge: number, sharedPower: boolean): RooflineModel {
  const al = [0, 1, 2, 3].map((k) => space.level(anchor, k) / Math.max(1, space.dims[k]! - 1));
  const w = profiled.map((m) => {
    let d2 = 0;
    for (let k = 0; k < 4; k++) {
      const d = space.level(m, k) / Math.max(1, space.dims[k]! - 1) - al[k]!;
      d2 += d * d;
    }
    return 1 / (1 + d2 / 0.0625);
  });
  if (!(ridge > 0)) return new RooflineModel(space, measured, profiled, w, anchor, undefined, { sharedPower });
  // The correction leans on the nearest measurements more than the shape's fit does.
  return new RooflineModel(space, measured, profiled, w, anchor, { weights: w.map((v) => v * v), ridge, limit: 0.4 }, { sharedPower });
}
