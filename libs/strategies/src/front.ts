/**
 * Candidate sets that are exact for every configuration of a key: a mode that is no better than
 * another in every quantity the model reads (minibatch times and the powers the budget sees) can
 * never be the unique best plan, whatever the budgets and rates. The oracle over 18,096 modes and
 * the choice among ALS's profiled modes scan only these fronts.
 *
 * * One stream, peak power: per candidate batch size b, the modes non-dominated in
 *   (tT, tI(b), max(pT, pI(b))) — X falls with both times, latency rises with their sum, stability
 *   with tI, and peak power is that max.
 * * Several streams, peak power: non-dominated in every time and every power at once (filtered for
 *   up to 2,000 candidates; larger sets are scanned whole, from the budget down with an X bound).
 * * Average power: no front (the time-weighted power is not monotone in the times); every mode,
 *   scanned from the budget down by the least power any of its plans can draw, with the X bound.
 * * Where modes carry standard errors and the margins are z·SE (SPEC §4), each mode is held to its
 *   own margins: a dominated mode may be held to smaller ones. The fronts then also keep what the
 *   margins grow with (the relative SEs and the systematic share) as columns, the scans cut at
 *   the budget with no margin and check each mode with its own, so they stay exact.
 */
import { ModeScore, considerSingle, loadMarginScales, marginsPerMode, resetScore, scoreMode, better, type Objective, type SafetyMargins } from './objective.js';
import type { MeasurementTable } from './table.js';

/** Violations at or above this mean an unstable plan (objective.ts). */
const UNSTABLE_VIOLATION = 1000;

/**
 * Indices (of `candidates`) not weakly dominated in the given columns (all minimised); of equal
 * points one is kept. Sorting by the first column means only kept points can dominate later ones.
 */
export function paretoFilter(candidates: ArrayLike<number>, columns: readonly Float64Array[]): Int32Array {
  const order: number[] = [];
  for (let n = 0; n < candidates.length; n++) {
    const i = candidates[n]!;
    let ok = true;
    for (let k = 0; k < columns.length && ok; k++) ok = !Number.isNaN(columns[k]![i]!);
    if (ok) order.push(i);
  }
  order.sort((a, b) => {
    for (let k = 0; k < columns.length; k++) {
      const d = columns[k]![a]! - columns[k]![b]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  const rest = columns.slice(1);
  const kept: number[] = [];
  // Columns of kept points, contiguous for the inner loop.
  const keptCols = rest.map(() => [] as number[]);
  for (const i of order) {
    let dominated = false;
    for (let j = 0; j < kept.length && !dominated; j++) {
      let all = true;
      for (let k = 0; k < rest.length; k++) {
        if (keptCols[k]![j]! > rest[k]![i]!) {
          all = false;
          break;
        }
      }
      dominated = all;
    }
    if (!dominated) {
      kept.push(i);
      for (let k = 0; k < rest.length; k++) keptCols[k]!.push(rest[k]![i]!);
    }
  }
  return Int32Array.from(kept);
}

/**
 * The same for exactly three columns in O(n log n): sweep by the first column, and keep a Fenwick
 * tree over the second column's ranks holding the smallest third column seen so far.
 */
export function paretoFilter3(candidates: ArrayLike<number>, a: Float64Array, b: Float64Array, c: Float64Array): Int32Array {
  let n = 0;
  const idx = new Int32Array(candidates.length);
  for (let j = 0; j < candidates.length; j++) {
    const i = candidates[j]!;
    if (!Number.isNaN(a[i]!) && !Number.isNaN(b[i]!) && !Number.isNaN(c[i]!)) idx[n++] = i;
  }
  // Ranks of the second column (ties share a rank, so "≤" queries include equal values): the
  // distinct values, sorted natively, and a binary search per point.
  const bSorted = new Float64Array(n);
  for (let j = 0; j < n; j++) bSorted[j] = b[idx[j]!]!;
  bSorted.sort();
  let size = 0;
  for (let j = 0; j < n; j++) if (j === 0 || bSorted[j] !== bSorted[size - 1]) bSorted[size++] = bSorted[j]!;
  const rank = new Int32Array(n);
  for (let j = 0; j < n; j++) rank[j] = lowerBound(bSorted, size, b[idx[j]!]!) + 1;
  const tree = new Float64Array(size + 1).fill(Infinity);
  // The sweep order: by a, then b, then c, ties in all three in candidate order. The values of a
  // are sorted natively and each point placed in its value's group (candidate order); only groups
  // of equal a (rare on measured or predicted figures) are sorted further.
  const aSorted = new Float64Array(n);
  for (let j = 0; j < n; j++) aSorted[j] = a[idx[j]!]!;
  aSorted.sort();
  const order = new Int32Array(n);
  const next = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const start = lowerBound(aSorted, n, a[idx[j]!]!);
    order[start + next[start]!++] = j;
  }
  for (let start = 0; start < n; ) {
    const len = next[start]!;
    if (len > 1) {
      const group = Array.from(order.subarray(start, start + len)).sort((x, y) => b[idx[x]!]! - b[idx[y]!]! || c[idx[x]!]! - c[idx[y]!]!);
      order.set(group, start);
    }
    start += len;
  }
  const kept: number[] = [];
  for (let o = 0; o < n; o++) {
    const j = order[o]!;
    const i = idx[j]!;
    const ci = c[i]!;
    // A kept point has a ≤ a[i] (sorted); it dominates i if its b ≤ b[i] and c ≤ c[i].
    let m = Infinity;
    for (let k = rank[j]!; k > 0; k -= k & -k) if (tree[k]! < m) m = tree[k]!;
    if (m <= ci) continue;
    kept.push(i);
    for (let k = rank[j]!; k <= size; k += k & -k) if (ci < tree[k]!) tree[k] = ci;
  }
  return Int32Array.from(kept);
}

/** The first position in the ascending `sorted[0..n)` whose value is ≥ v. */
function lowerBound(sorted: Float64Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many of the ascending `powers` are within budget P once inflated by `pScale` (binary search). */
function budgetCut(powers: Float64Array, pScale: number, P: number): number {
  let lo = 0;
  let hi = powers.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (powers[mid]! * pScale - P > 1e-9 * P) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * What a mode's own margins grow with where it carries standard errors (objective.ts loadMargins:
 * z·√(SE² + s²·Σwᵢ²)): a mode dominates another for every z and s only when it is no worse in
 * these too. A mode without standard errors (NaN here) is held to the fixed fractions instead.
 */
function uncertaintyColumns(table: MeasurementTable): Float64Array[] {
  const se = table.se;
  return se ? [se.timeRel, se.powerRel, se.systematicShare] : [];
}

/**
 * One stream's front at one batch size: non-dominated in (tT, tI, peak) and, where the table
 * carries standard errors, in what the margins grow with, so that it stays exact when each mode is
 * held to its own margins; modes without standard errors are all kept.
 */
function exactFront(table: MeasurementTable, all: ArrayLike<number>, times: Float64Array, peak: Float64Array): ArrayLike<number> {
  if (!table.se) return paretoFilter3(all, table.trainTimeS, times, peak);
  const se = table.se;
  const withSe: number[] = [];
  const without: number[] = [];
  for (let n = 0; n < all.length; n++) {
    const m = all[n]!;
    if (Number.isNaN(table.trainTimeS[m]!) || Number.isNaN(times[m]!) || Number.isNaN(peak[m]!)) continue;
    (se.timeRel[m]! >= 0 && se.powerRel[m]! >= 0 ? withSe : without).push(m);
  }
  return [...paretoFilter(withSe, [table.trainTimeS, times, peak, ...uncertaintyColumns(table)]), ...without];
}

/** Per position of `order`: the least (positive) training time among positions 0..i, which bounds X from above. */
function leastTrainTimeSoFar(table: MeasurementTable, order: ArrayLike<number>): Float64Array {
  const prefix = new Float64Array(order.length);
  let fastest = Infinity;
  for (let i = 0; i < order.length; i++) {
    const tT = table.trainTimeS[order[i]!]!;
    prefix[i] = fastest = Math.min(fastest, tT > 0 ? tT : Infinity);
  }
  return prefix;
}

/** Largest candidate set whose joint (several-stream) front is filtered (see the constructor). */
const JOINT_FILTER_LIMIT = 2000;

export class CandidateFront {
  /** One stream, peak: the front per batch index. */
  private readonly perBatch: Int32Array[] | undefined;
  private readonly perBatchPeak: Float64Array[] | undefined;
  /** Per batch index: the smallest training and inference time on its front (to skip hopeless batch sizes). */
  private readonly perBatchFastest: [number, number][] | undefined;
  /** Per batch index: the least training time among front positions 0..j (bounds X from above). */
  private readonly perBatchPrefixMinTT: Float64Array[] | undefined;
  /** Several streams, peak: the joint front, by least possible peak power. */
  private readonly joint: Int32Array | undefined;
  private readonly jointLeastPeak: Float64Array | undefined;
  /** The least training time among joint positions 0..i (bounds X from above). */
  private readonly jointPrefixMinTT: Float64Array | undefined;
  /** Per joint position: tT + Σ each stream's least inference time (bounds every latency from below). */
  private readonly jointLeastWaitS: Float64Array | undefined;
  private readonly scratch: ModeScore;
  private readonly best: ModeScore;
  /** A mode's time and power scales, where they differ per mode. */
  private readonly scales = new Float64Array(2);

  constructor(
    readonly table: MeasurementTable,
    /** Every mode that may be chosen (measured in `table`). */
    readonly all: Int32Array,
  ) {
    const K = table.streamCount;
    this.scratch = new ModeScore(K);
    this.best = new ModeScore(K);
    if (K === 1) {
      this.perBatch = [];
      this.perBatchPeak = [];
      this.perBatchFastest = [];
      this.perBatchPrefixMinTT = [];
      table.inferTimeS[0]!.forEach((times, bi) => {
        const powers = table.inferPowerW[0]![bi]!;
        const peak = new Float64Array(table.size);
        for (const m of all) peak[m] = Math.max(table.trainPowerW[m]!, powers[m]!);
        // Sorted by peak power, so a scan can stop at the power budget once something is feasible.
        const front = Array.from(exactFront(table, all, times, peak)).sort((x, y) => peak[x]! - peak[y]!);
        this.perBatch!.push(Int32Array.from(front));
        let minT = Infinity;
        let minI = Infinity;
        for (const m of front) {
          minT = Math.min(minT, table.trainTimeS[m]!);
          minI = Math.min(minI, times[m]!);
        }
        this.perBatchFastest!.push([minT, minI]);
        this.perBatchPeak!.push(Float64Array.from(front, (m) => peak[m]!));
        const prefix = new Float64Array(front.length);
        let least = Infinity;
        front.forEach((m, j) => (prefix[j] = least = Math.min(least, table.trainTimeS[m]!)));
        this.perBatchPrefixMinTT!.push(prefix);
      });
    } else {
      const cols = [table.trainTimeS, table.trainPowerW, ...table.inferTimeS.flat(), ...table.inferPowerW.flat(), ...uncertaintyColumns(table)];
      // Modes missing some batch size's measurement are kept (NaN would drop them from the filter).
      const complete: number[] = [];
      const incomplete: number[] = [];
      for (let n = 0; n < all.length; n++) {
        const m = all[n]!;
        let ok = true;
        for (let k = 0; k < cols.length && ok; k++) ok = !Number.isNaN(cols[k]![m]!);
        (ok ? complete : incomplete).push(m);
      }
      // Sorted by the least peak power any batch choice can draw, so a scan can stop at the budget.
      const least = new Float64Array(table.size);
      for (let n = 0; n < all.length; n++) {
        const m = all[n]!;
        let p = table.trainPowerW[m]!;
        for (let s = 0; s < table.inferPowerW.length; s++) {
          const perBatch = table.inferPowerW[s]!;
          let lo = Infinity;
          for (let b = 0; b < perBatch.length; b++) if (perBatch[b]![m]! < lo) lo = perBatch[b]![m]!;
          if (lo > p && Number.isFinite(lo)) p = lo;
        }
        least[m] = p;
      }
      // In 2 + 4·(batch sizes) columns the filter keeps most modes (three quarters of Orin's 18,096
      // for two streams) at O(n·kept); past a few thousand modes the bounded scan below is cheaper alone.
      const filtered = complete.length <= JOINT_FILTER_LIMIT ? paretoFilter(complete, cols) : complete;
      const joint = [...filtered, ...incomplete].sort((x, y) => least[x]! - least[y]!);
      this.joint = Int32Array.from(joint);
      this.jointLeastPeak = Float64Array.from(joint, (m) => least[m]!);
      this.jointPrefixMinTT = leastTrainTimeSoFar(table, joint);
      // The least time a request of any stream can wait on: tT plus each stream's fastest batch.
      this.jointLeastWaitS = Float64Array.from(joint, (m) => {
        let t = table.trainTimeS[m]!;
        for (const perBatch of table.inferTimeS) {
          let lo = Infinity;
          for (const col of perBatch) if (col[m]! < lo) lo = col[m]!;
          t += Number.isFinite(lo) ? lo : 0;
        }
        return Number.isFinite(t) ? t : 0;
      });
    }
  }

  /** How many modes the fronts hold (for reports). */
  get size(): number {
    if (this.perBatch) return new Set(this.perBatch.flatMap((f) => Array.from(f))).size;
    return this.joint!.length;
  }

  /**
   * The best plan for `obj` among `all` (exact); the returned score is reused by the next call.
   * With `feasibleOnly`, undefined instead of the closest infeasible plan (a cheaper scan).
   */
  bestFor(obj: Objective, margins: SafetyMargins, feasibleOnly = false): ModeScore | undefined {
    const out = this.best;
    // Where modes carry standard errors, each is held to its own margins (z·SE, as scoreMode holds
    // it): the budget cuts and the bounds below then use the least scales any mode can have (no
    // margin), and each mode is checked with its own.
    const perMode = marginsPerMode(this.table, margins);
    const tScaleFixed = 1 + margins.timeFraction;
    const pScaleFixed = 1 + margins.powerFraction;
    const tScaleLow = perMode ? Math.min(1, tScaleFixed) : tScaleFixed;
    const pScaleLow = perMode ? Math.min(1, pScaleFixed) : pScaleFixed;
    if (obj.averagePower) {
      const { order, least, prefix } = this.leastPowerOrder();
      if (this.scanFeasible(order, least, prefix, obj, margins, pScaleLow)) return out;
      if (feasibleOnly) return undefined;
      return this.scan(order, obj, margins, least, pScaleLow);
    }
    const scales = this.scales;
    if (this.perBatch) {
      resetScore(out, -1);
      let tScale = tScaleFixed;
      let pScale = pScaleFixed;
      const P = obj.powerBudgetW;
      const lambda = obj.ratesPerS[0]!;
      const L = obj.latencyBudgetsS[0]!;
      const bT = obj.trainBatchSize;
      const tTcol = this.table.trainTimeS;
      let bestX = -1;
      let bestPower = Infinity;
      let bestM = -1;
      let bestB = -1;
      for (let bi = 0; bi < this.perBatch.length; bi++) {
        const front = this.perBatch[bi]!;
        const peaks = this.perBatchPeak![bi]!;
        const tIcol = this.table.inferTimeS[0]![bi]!;
        const b = obj.batchSizes[0]![bi]!;
        const fill = (b - 1) / lambda;
        const [minT, minI] = this.perBatchFastest![bi]!;
        // No mode can meet latency or stability at this batch size.
        if ((fill + (minT + minI) * tScaleLow - L) / L > 1e-9 || (lambda * minI * tScaleLow) / b >= 1) continue;
        // Feasible plans only: power is within budget below the cut in this sorted front. Scanned
        // from the budget down, and stopped once no mode left can beat the best X found:
        // X ≤ bT / (least training time among them).
        const prefix = this.perBatchPrefixMinTT![bi]!;
        for (let j = budgetCut(peaks, pScaleLow, P) - 1; j >= 0; j--) {
          if (bT / prefix[j]! < bestX) break;
          const peak = peaks[j]!;
          const m = front[j]!;
          const tT = tTcol[m]!;
          const tI = tIcol[m]!;
          if (perMode) {
            loadMarginScales(this.table, m, margins, scales);
            tScale = scales[0]!;
            pScale = scales[1]!;
            if ((peak * pScale - P) / P > 1e-9) continue;
          }
          const rho = (lambda * tI) / b;
          if (rho * tScale >= 1) continue;
          if ((fill + (tT + tI) * tScale - L) / L > 1e-9) continue;
          const x = (1 - rho) * (bT / tT);
          if (x > bestX || (x === bestX && peak < bestPower)) {
            bestX = x;
            bestPower = peak;
            bestM = m;
            bestB = bi;
          }
        }
      }
      if (bestM >= 0) {
        // Re-score the winner through the reference path so every field is filled the same way.
        resetScore(out, bestM);
        if (perMode) {
          loadMarginScales(this.table, bestM, margins, scales);
          tScale = scales[0]!;
          pScale = scales[1]!;
        }
        considerSingle(this.table, bestM, bestB, obj, tScale, pScale, out);
        return out;
      }
      if (feasibleOnly) return undefined;
      // Nothing feasible: the closest plan over the whole fronts. Along a front the power
      // violation only grows, so once it exceeds the best (stable) violation found, no later mode
      // of that front can be closer.
      for (let bi = 0; bi < this.perBatch.length; bi++) {
        const front = this.perBatch[bi]!;
        const peaks = this.perBatchPeak![bi]!;
        for (let j = 0; j < front.length; j++) {
          if (out.measurable && out.violation < UNSTABLE_VIOLATION && (peaks[j]! * pScaleLow - P) / P > out.violation) break;
          if (perMode) {
            loadMarginScales(this.table, front[j]!, margins, scales);
            tScale = scales[0]!;
            pScale = scales[1]!;
          }
          considerSingle(this.table, front[j]!, bi, obj, tScale, pScale, out);
        }
      }
      return out.measurable ? out : undefined;
    }
    // Several streams, peak power: feasible plans first, scanned from where even the cheapest
    // batch choice is over the budget down, stopped once no mode left can beat the best X found
    // (X ≤ bT / tT); the closest infeasible plan from the cheapest up, stopped where the power
    // alone is further over the budget than the closest found.
    if (this.scanFeasible(this.joint!, this.jointLeastPeak!, this.jointPrefixMinTT!, obj, margins, pScaleLow)) return out;
    if (feasibleOnly) return undefined;
    return this.scan(this.joint!, obj, margins, this.jointLeastPeak!, pScaleLow, this.jointLeastWaitS, tScaleLow);
  }

  /**
   * Feasible plans only, into `this.best`: `order` sorted by a lower bound on the power any plan of
   * the mode draws (`least`), scanned from where that bound passes the budget down, stopped once
   * no mode left can beat the best X found (X ≤ bT / tT, `prefix` the least tT so far). True when
   * something is feasible.
   */
  private scanFeasible(order: Int32Array, least: Float64Array, prefix: Float64Array, obj: Objective, margins: SafetyMargins, pScaleLow: number): boolean {
    const out = this.best;
    const tTcol = this.table.trainTimeS;
    const bT = obj.trainBatchSize;
    out.measurable = false;
    let any = false;
    for (let i = budgetCut(least, pScaleLow, obj.powerBudgetW) - 1; i >= 0; i--) {
      if (any && bT / prefix[i]! < out.throughput) break;
      if (any && bT / tTcol[order[i]!]! < out.throughput) continue;
      scoreMode(this.table, order[i]!, obj, margins, this.scratch, true);
      if (!this.scratch.measurable || !this.scratch.feasible) continue;
      if (!any || better(this.scratch, out)) {
        out.copyFrom(this.scratch);
        any = true;
      }
    }
    return any;
  }

  /**
   * Average power: every candidate, by the least power any plan of it can draw (the time-weighted
   * power is a mix of the training power and the streams' inference powers, so never below the
   * least of them), with the running least training time; built on the first such problem.
   */
  private byLeastPower: { order: Int32Array; least: Float64Array; prefix: Float64Array } | undefined;

  private leastPowerOrder(): { order: Int32Array; least: Float64Array; prefix: Float64Array } {
    if (this.byLeastPower) return this.byLeastPower;
    const t = this.table;
    const least = new Float64Array(t.size);
    for (let n = 0; n < this.all.length; n++) {
      const m = this.all[n]!;
      let p = t.trainPowerW[m]!;
      for (const perBatch of t.inferPowerW) for (const col of perBatch) if (col[m]! < p) p = col[m]!;
      least[m] = Number.isNaN(p) ? Infinity : p;
    }
    const order = Int32Array.from(this.all).sort((x, y) => least[x]! - least[y]!);
    this.byLeastPower = { order, least: Float64Array.from(order, (m) => least[m]!), prefix: leastTrainTimeSoFar(t, order) };
    return this.byLeastPower;
  }

  /**
   * The best plan of `indices` in order, feasible or the closest. With `least` (ascending lower
   * bounds on each index's power, `pScaleLow` the least power scale), it stops once that bound's
   * power violation alone exceeds the closest (stable) plan's violation found: nothing later can
   * be closer, and the scan has found nothing feasible where it is called.
   */
  private scan(indices: Int32Array, obj: Objective, margins: SafetyMargins, least?: Float64Array, pScaleLow = 1, leastWaitS?: Float64Array, tScaleLow = 1): ModeScore | undefined {
    const out = this.best;
    out.measurable = false;
    let any = false;
    const P = obj.powerBudgetW;
    let tightestL = Infinity;
    for (let s = 0; s < obj.streamCount; s++) tightestL = Math.min(tightestL, obj.latencyBudgetsS[s]!);
    for (let i = 0; i < indices.length; i++) {
      if (least && any && !out.feasible && out.violation < UNSTABLE_VIOLATION && (least[i]! * pScaleLow - P) / P > out.violation) break;
      // With `leastWaitS` (per index, the least tT + Σ tI any plan waits on): a mode whose every
      // plan misses the tightest latency budget by more than the closest plan's violation is skipped.
      if (leastWaitS && any && !out.feasible && out.violation < UNSTABLE_VIOLATION && (leastWaitS[i]! * tScaleLow - tightestL) / tightestL > out.violation) continue;
      scoreMode(this.table, indices[i]!, obj, margins, this.scratch);
      if (!this.scratch.measurable) continue;
      if (!any || better(this.scratch, out)) {
        out.copyFrom(this.scratch);
        any = true;
      }
    }
    return any ? out : undefined;
  }
}
