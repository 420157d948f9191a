/**
 * SPEC §2 on typed arrays: the best inference batch sizes of one mode for one problem, without
 * allocating. It agrees with core's `evaluate`/`bestBatchSizes` (tested); the strategies and the
 * benchmark call it hundreds of millions of times, core's object-based version stays the reference
 * and renders the final plan.
 *
 * Safety margins: measurements carry noise (2–3 % on a board and in the virtual device), and a plan
 * is judged on the noise-free truth. A strategy therefore treats a mode as feasible only when its
 * measured minibatch times and powers, each inflated by its margin, meet every constraint.
 * Throughput is still predicted from the measurements as they are. The margins of a mode whose
 * measurements carry standard errors are z·SE (SPEC §4, issue 16): z·√(SEᵣ² + s²·Σwᵢ²) with SEᵣ
 * the largest relative standard error among the mode's times (or powers), s the relative error a
 * window's samples cannot show (thermal state) and wᵢ the weights of the windows combined (Σwᵢ² =
 * 1/w for w equal windows), so a re-measured mode keeps a smaller margin. A mode without them (a
 * table without SE columns, a model's prediction) keeps the fixed `timeFraction` /
 * `powerFraction`.
 */
import type { Problem } from '@fulcrum/core';
import type { MeasurementTable, StandardErrors } from './table.js';

export interface SafetyMargins {
  /** Measured times are inflated by this fraction before the latency and stability checks (modes without standard errors). */
  readonly timeFraction: number;
  /** Measured powers are inflated by this fraction before the power check (modes without standard errors). */
  readonly powerFraction: number;
  /** Where a mode's measurements carry standard errors, its margins are this many of them (absent: fixed fractions only). */
  readonly z?: number | undefined;
  /** Relative error one window's samples cannot show (thermal state), divided by √windows; default 0. */
  readonly systematicFraction?: number | undefined;
}

export const NO_MARGINS: SafetyMargins = { timeFraction: 0, powerFraction: 0 };

// The margins of the mode being scored (module scratch: scoring must not allocate).
let marginT = 0;
let marginP = 0;

/**
 * The relative variance of mode m's measurements that its windows' samples cannot show: s² times
 * the share of one window's systematic variance its combined windows keep (Σwᵢ², SPEC §4).
 */
export function systematicVariance(se: StandardErrors, m: number, margins: SafetyMargins): number {
  const s = margins.systematicFraction ?? 0;
  return s * s * se.systematicShare[m]!;
}

function loadMargins(table: MeasurementTable, m: number, margins: SafetyMargins): void {
  const se = table.se;
  const z = margins.z;
  if (z !== undefined && se !== undefined) {
    const t = se.timeRel[m]!;
    const p = se.powerRel[m]!;
    if (t >= 0 && p >= 0) {
      const sys2 = systematicVariance(se, m, margins);
      marginT = z * Math.sqrt(t * t + sys2);
      marginP = z * Math.sqrt(p * p + sys2);
      return;
    }
  }
  marginT = margins.timeFraction;
  marginP = margins.powerFraction;
}

/** True when `margins` hold the modes of `table` to their own standard errors (z·SE), so the scales differ per mode. */
export function marginsPerMode(table: MeasurementTable, margins: SafetyMargins): boolean {
  return margins.z !== undefined && table.se !== undefined;
}

/**
 * Mode m's time and power scales (1 + its margins) into `out[0]`, `out[1]`: the figures
 * `scoreMode` inflates its measurements by. No allocation (scans call it per mode).
 */
export function loadMarginScales(table: MeasurementTable, m: number, margins: SafetyMargins, out: Float64Array): void {
  loadMargins(table, m, margins);
  out[0] = 1 + marginT;
  out[1] = 1 + marginP;
}

/** The margins mode `m` of `table` is held to: z·SE where it has standard errors, else the fixed fractions. */
export function modeMargins(table: MeasurementTable, m: number, margins: SafetyMargins): { readonly timeFraction: number; readonly powerFraction: number } {
  loadMargins(table, m, margins);
  return { timeFraction: marginT, powerFraction: marginP };
}

/** The part of a problem that varies between configurations of one profile key. */
export class Objective {
  readonly streamCount: number;
  readonly trainBatchSize: number;
  readonly powerBudgetW: number;
  readonly averagePower: boolean;
  readonly ratesPerS: Float64Array;
  readonly latencyBudgetsS: Float64Array;
  /** Candidate batch sizes per stream (the table's batch indices refer to these). */
  readonly batchSizes: readonly (readonly number[])[];

  constructor(problem: Problem) {
    this.streamCount = problem.streams.length;
    this.trainBatchSize = problem.trainBatchSize;
    this.powerBudgetW = problem.powerBudgetW;
    this.averagePower = problem.powerSemantics === 'average';
    this.ratesPerS = Float64Array.from(problem.streams, (s) => s.arrivalRatePerS);
    this.latencyBudgetsS = Float64Array.from(problem.streams, (s) => s.latencyBudgetS);
    this.batchSizes = problem.streams.map((s) => s.candidateBatchSizes);
  }
}

/** The verdict on one mode with its best batch sizes. Reused between calls: copy what you keep. */
export class ModeScore {
  modeIndex = -1;
  /** Some batch choice has measurements on this mode. */
  measurable = false;
  /** Feasible with the safety margins applied. */
  feasible = false;
  /** X in samples/s, from the measurements as they are. */
  throughput = 0;
  powerW = 0;
  /** How far from feasible (with margins): 0 when feasible, larger is worse; unstable ≥ 1000. */
  violation = 0;
  /** The signed worst relative constraint value (value − limit)/limit with margins: ≤ 0 when feasible. */
  slack = 0;
  /** Chosen batch index per stream. */
  batchIndex: number[];

  constructor(streamCount: number) {
    this.batchIndex = new Array<number>(streamCount).fill(0);
  }

  copyFrom(o: ModeScore): this {
    this.modeIndex = o.modeIndex;
    this.measurable = o.measurable;
    this.feasible = o.feasible;
    this.throughput = o.throughput;
    this.powerW = o.powerW;
    this.violation = o.violation;
    this.slack = o.slack;
    for (let i = 0; i < o.batchIndex.length; i++) this.batchIndex[i] = o.batchIndex[i]!;
    return this;
  }

  clone(): ModeScore {
    return new ModeScore(this.batchIndex.length).copyFrom(this);
  }
}

/** True when `a` is a better plan than `b`: feasible first, then more X, then less power; else less violation. */
export function better(a: ModeScore, b: ModeScore): boolean {
  if (a.measurable !== b.measurable) return a.measurable;
  if (a.feasible !== b.feasible) return a.feasible;
  if (a.feasible) {
    if (a.throughput !== b.throughput) return a.throughput > b.throughput;
    return a.powerW < b.powerW;
  }
  if (a.violation !== b.violation) return a.violation < b.violation;
  return a.throughput > b.throughput;
}

const UNSTABLE = 1000;

// Scratch for the K-stream odometer: batch index per stream, position in its option list, options.
let odometer = new Int32Array(4);
let odometer2 = new Int32Array(4);
let options: number[][] = [];

/**
 * Scores mode `m` of `table` for `obj`: the best batch choice under SPEC §2 (peak or average power),
 * feasibility judged with `margins`. Writes into `out` and returns it.
 */
export function scoreMode(table: MeasurementTable, m: number, obj: Objective, margins: SafetyMargins, out: ModeScore, feasibleOnly = false): ModeScore {
  out.modeIndex = m;
  out.measurable = false;
  out.feasible = false;
  out.throughput = 0;
  out.powerW = Infinity;
  out.violation = Infinity;
  const tT = table.trainTimeS[m]!;
  const pT = table.trainPowerW[m]!;
  if (!(tT > 0)) return out;
  loadMargins(table, m, margins);
  const tScale = 1 + marginT;
  const pScale = 1 + marginP;
  const bT = obj.trainBatchSize;
  const P = obj.powerBudgetW;
  const K = obj.streamCount;

  if (K === 0) {
    out.measurable = true;
    out.throughput = bT / tT;
    out.powerW = pT;
    const v = (pT * pScale - P) / P;
    out.feasible = v <= 1e-9;
    out.violation = out.feasible ? 0 : v;
    out.slack = v;
    return out;
  }

  if (K === 1) {
    const n = obj.batchSizes[0]!.length;
    for (let bi = 0; bi < n; bi++) considerSingle(table, m, bi, obj, tScale, pScale, out);
    return out;
  }

  // K ≥ 2: every combination of batch indices (an odometer over the streams). With feasibleOnly,
  // only batch sizes that could be feasible on their own (power, own stability, own latency with
  // no other stream) are combined, and an infeasible mode comes back not measurable.
  if (odometer.length < K) odometer = new Int32Array(K);
  const idx = odometer;
  if (options.length < K) options = Array.from({ length: K }, () => [] as number[]);
  for (let s = 0; s < K; s++) {
    const list = options[s]!;
    list.length = 0;
    const sizes = obj.batchSizes[s]!;
    for (let bi = 0; bi < sizes.length; bi++) {
      if (feasibleOnly) {
        const tI = table.inferTimeS[s]![bi]![m]!;
        if (!(tI > 0)) continue;
        const lam = obj.ratesPerS[s]!;
        const L = obj.latencyBudgetsS[s]!;
        if (!obj.averagePower && (table.inferPowerW[s]![bi]![m]! * pScale - P) / P > 1e-9) continue;
        if ((lam * tI * tScale) / sizes[bi]! >= 1) continue;
        if (((sizes[bi]! - 1) / lam + (tT + tI) * tScale - L) / L > 1e-9) continue;
      }
      list.push(bi);
    }
    if (list.length === 0) return out;
  }
  const pos = odometer2.length < K ? (odometer2 = new Int32Array(K)) : odometer2;
  pos.fill(0, 0, K);
  for (let s = 0; s < K; s++) idx[s] = options[s]![0]!;
  for (;;) {
    let rho = 0;
    let sumTI = 0;
    let peakI = 0;
    let avgI = 0;
    let ok = true;
    for (let s = 0; s < K; s++) {
      const tI = table.inferTimeS[s]![idx[s]!]![m]!;
      if (!(tI > 0)) {
        ok = false;
        break;
      }
      const pI = table.inferPowerW[s]![idx[s]!]![m]!;
      const r = (obj.ratesPerS[s]! * tI) / obj.batchSizes[s]![idx[s]!]!;
      rho += r;
      sumTI += tI;
      if (pI > peakI) peakI = pI;
      avgI += r * pI;
    }
    if (ok) {
      const x = (rho < 1 ? 1 - rho : 0) * (bT / tT);
      let power: number;
      if (obj.averagePower) power = rho < 1 ? (1 - rho) * pT + avgI : avgI / rho;
      else power = pT > peakI ? pT : peakI;
      const rhoM = rho * tScale;
      let violation: number;
      if (rhoM >= 1) violation = UNSTABLE + rhoM - 1;
      else {
        violation = (power * pScale - P) / P;
        for (let s = 0; s < K; s++) {
          const lat = (obj.batchSizes[s]![idx[s]!]! - 1) / obj.ratesPerS[s]! + (tT + sumTI) * tScale;
          const L = obj.latencyBudgetsS[s]!;
          const vl = (lat - L) / L;
          if (vl > violation) violation = vl;
        }
      }
      const feasible = violation <= 1e-9;
      const take = !out.measurable
        ? true
        : feasible !== out.feasible
          ? feasible
          : feasible
            ? x > out.throughput || (x === out.throughput && power < out.powerW)
            : violation < out.violation || (violation === out.violation && x > out.throughput);
      if (take) {
        out.measurable = true;
        out.feasible = feasible;
        out.throughput = x;
        out.powerW = power;
        out.violation = feasible ? 0 : violation;
        out.slack = violation;
        for (let s = 0; s < K; s++) out.batchIndex[s] = idx[s]!;
      }
    }
    let k = K - 1;
    while (k >= 0 && pos[k] === options[k]!.length - 1) {
      pos[k] = 0;
      idx[k] = options[k]![0]!;
      k--;
    }
    if (k < 0) break;
    pos[k]!++;
    idx[k] = options[k]![pos[k]!]!;
  }
  if (feasibleOnly && !out.feasible) out.measurable = false;
  return out;
}

/** Resets `out` to "nothing measurable yet" for mode m (before `considerSingle` calls). */
export function resetScore(out: ModeScore, m: number): ModeScore {
  out.modeIndex = m;
  out.measurable = false;
  out.feasible = false;
  out.throughput = 0;
  out.powerW = Infinity;
  out.violation = Infinity;
  return out;
}

/**
 * One stream: considers (mode m, batch index bi) and takes it into `out` when it beats what `out`
 * holds (out may hold another mode: the benchmark's oracle scans per-batch Pareto fronts this way).
 */
export function considerSingle(
  table: MeasurementTable,
  m: number,
  bi: number,
  obj: Objective,
  tScale: number,
  pScale: number,
  out: ModeScore,
): void {
  const tT = table.trainTimeS[m]!;
  const tI = table.inferTimeS[0]![bi]![m]!;
  if (!(tT > 0) || !(tI > 0)) return;
  const pT = table.trainPowerW[m]!;
  const pI = table.inferPowerW[0]![bi]![m]!;
  const lambda = obj.ratesPerS[0]!;
  const L = obj.latencyBudgetsS[0]!;
  const P = obj.powerBudgetW;
  const b = obj.batchSizes[0]![bi]!;
  const rho = (lambda * tI) / b;
  const x = (rho < 1 ? 1 - rho : 0) * (obj.trainBatchSize / tT);
  const power = obj.averagePower ? (rho < 1 ? (1 - rho) * pT + rho * pI : pI) : pT > pI ? pT : pI;
  const rhoM = rho * tScale;
  let violation: number;
  if (rhoM >= 1) violation = UNSTABLE + rhoM - 1;
  else {
    const lat = (b - 1) / lambda + (tT + tI) * tScale;
    const vl = (lat - L) / L;
    const vp = (power * pScale - P) / P;
    violation = vl > vp ? vl : vp;
  }
  const feasible = violation <= 1e-9;
  const take = !out.measurable
    ? true
    : feasible !== out.feasible
      ? feasible
      : feasible
        ? x > out.throughput || (x === out.throughput && power < out.powerW)
        : violation < out.violation || (violation === out.violation && x > out.throughput);
  if (!take) return;
  out.modeIndex = m;
  out.measurable = true;
  out.feasible = feasible;
  out.throughput = x;
  out.powerW = power;
  out.violation = feasible ? 0 : violation;
  out.slack = violation;
  out.batchIndex[0] = bi;
}

/**
 * The best of `indices` (all must be measured in `table`) for `obj`, the first of equals; undefined
 * when none is measurable. Once a feasible plan is found, a mode whose training time alone keeps
 * its X under the plan's (X ≤ bT / tT) is not scored: it can neither beat nor equal it.
 */
export function bestAmong(
  table: MeasurementTable,
  indices: ArrayLike<number>,
  obj: Objective,
  margins: SafetyMargins,
  scratch: ModeScore = new ModeScore(obj.streamCount),
  best: ModeScore = new ModeScore(obj.streamCount),
): ModeScore | undefined {
  best.measurable = false;
  let any = false;
  const bT = obj.trainBatchSize;
  const tTcol = table.trainTimeS;
  for (let i = 0; i < indices.length; i++) {
    const m = indices[i]!;
    if (any && best.feasible && bT / tTcol[m]! < best.throughput) continue;
    scoreMode(table, m, obj, margins, scratch);
    if (!scratch.measurable) continue;
    if (!any || better(scratch, best)) {
      best.copyFrom(scratch);
      any = true;
    }
  }
  return any ? best : undefined;
}

/**
 * Scores one fixed plan (mode m, the given batch index per stream) on `table`, no search:
 * how the benchmark judges a strategy's plan on the noise-free ground truth.
 */
export function scoreAssignment(table: MeasurementTable, m: number, batchIndex: readonly number[], obj: Objective, margins: SafetyMargins, out: ModeScore): ModeScore {
  resetScore(out, m);
  const tT = table.trainTimeS[m]!;
  const pT = table.trainPowerW[m]!;
  if (!(tT > 0)) return out;
  const K = obj.streamCount;
  loadMargins(table, m, margins);
  const tScale = 1 + marginT;
  const pScale = 1 + marginP;
  let rho = 0;
  let sumTI = 0;
  let peak = pT;
  let avgI = 0;
  for (let s = 0; s < K; s++) {
    const bi = batchIndex[s]!;
    const tI = table.inferTimeS[s]![bi]![m]!;
    if (!(tI > 0)) return out;
    const pI = table.inferPowerW[s]![bi]![m]!;
    const r = (obj.ratesPerS[s]! * tI) / obj.batchSizes[s]![bi]!;
    rho += r;
    sumTI += tI;
    if (pI > peak) peak = pI;
    avgI += r * pI;
  }
  const x = (rho < 1 ? 1 - rho : 0) * (obj.trainBatchSize / tT);
  const power = obj.averagePower ? (rho < 1 ? (1 - rho) * pT + avgI : avgI / rho) : peak;
  const P = obj.powerBudgetW;
  let violation: number;
  if (rho * tScale >= 1) violation = UNSTABLE + rho * tScale - 1;
  else {
    violation = (power * pScale - P) / P;
    for (let s = 0; s < K; s++) {
      const lat = (obj.batchSizes[s]![batchIndex[s]!]! - 1) / obj.ratesPerS[s]! + (tT + sumTI) * tScale;
      const L = obj.latencyBudgetsS[s]!;
      const vl = (lat - L) / L;
      if (vl > violation) violation = vl;
    }
  }
  out.measurable = true;
  out.feasible = violation <= 1e-9;
  out.throughput = x;
  out.powerW = power;
  out.violation = out.feasible ? 0 : violation;
  out.slack = violation;
  for (let s = 0; s < K; s++) out.batchIndex[s] = batchIndex[s]!;
  return out;
}
