/**
 * Regressors over power modes. `ForestSurrogate` wraps ml-random-forest (bagged CART trees): the
 * mean of the trees is the prediction and their spread the uncertainty ALS samples by.
 * `QuadraticSurrogate` is a ridge least-squares fit (ml-matrix) on a second-order polynomial of the
 * log clocks, the smooth predictor of the PowerTrain-style baseline.
 */
import { RandomForestRegression } from 'ml-random-forest';
import { Matrix, solve } from 'ml-matrix';
import type { ModeSpace } from './space.js';

/** Features of a mode: each knob's level normalised to [0, 1]. */
export function levelFeatures(space: ModeSpace, index: number): number[] {
  return space.unitCoordinates(index, [0, 0, 0, 0]);
}

/** log(knob / top knob) per knob, the natural scale for times (∝ 1/clock) and powers. */
export function logClockFeatures(space: ModeSpace, index: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < 4; k++) {
    const axis = space.axes[k]!;
    out.push(Math.log(axis[space.level(index, k)]! / axis[axis.length - 1]!));
  }
  return out;
}

export interface ForestOptions {
  readonly trees: number;
  readonly seed: number;
  readonly minSamplesPerLeaf: number;
}

export class ForestSurrogate {
  private readonly forest: RandomForestRegression;

  constructor(features: number[][], targets: number[], options: ForestOptions) {
    this.forest = new RandomForestRegression({
      nEstimators: options.trees,
      // Every tree sees all four knobs; the diversity (and so the spread) comes from bagging the samples.
      maxFeatures: 1.0,
      replacement: false,
      useSampleBagging: true,
      noOOB: true,
      seed: options.seed,
      treeOptions: { minNumSamples: options.minSamplesPerLeaf },
    });
    this.forest.train(features, targets);
  }

  /** Mean and standard deviation across the trees, per row. */
  predict(features: number[][], mean: Float64Array, std: Float64Array): void {
    if (features.length === 0) return;
    const values = this.forest.predictionValues(features);
    const trees = values.columns;
    for (let i = 0; i < features.length; i++) {
      let s = 0;
      let s2 = 0;
      for (let t = 0; t < trees; t++) {
        const v = values.get(i, t);
        s += v;
        s2 += v * v;
      }
      const m = s / trees;
      mean[i] = m;
      std[i] = Math.sqrt(Math.max(0, s2 / trees - m * m));
    }
  }
}

/** 1, x_k, x_k², x_j·x_k over the four log-clock features: 15 terms. */
function quadraticTerms(x: readonly number[]): number[] {
  const t = [1, ...x];
  for (let j = 0; j < x.length; j++) for (let k = j; k < x.length; k++) t.push(x[j]! * x[k]!);
  return t;
}

export class QuadraticSurrogate {
  private readonly weights: number[];

  /** Ridge least squares: (AᵀA + λI) w = Aᵀy, with λ small relative to the data. */
  constructor(features: readonly (readonly number[])[], targets: readonly number[], ridge = 1e-3) {
    const rows = features.map(quadraticTerms);
    const a = new Matrix(rows);
    const at = a.transpose();
    const ata = at.mmul(a);
    for (let i = 1; i < ata.rows; i++) ata.set(i, i, ata.get(i, i) + ridge * rows.length);
    const aty = at.mmul(Matrix.columnVector([...targets]));
    this.weights = solve(ata, aty).getColumn(0);
  }

  predictOne(x: readonly number[]): number {
    const t = quadraticTerms(x);
    let s = 0;
    for (let i = 0; i < t.length; i++) s += t[i]! * this.weights[i]!;
    return s;
  }
}
