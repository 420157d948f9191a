/**
 * A PowerTrain-style predictor (SPEC §5): profile 50 random modes, fit a regressor per measured
 * quantity (training time and power, each stream's inference time and power at each candidate
 * batch size), predict every mode, and pick the best predicted plan. Unlike ALS and GMD the plan is
 * chosen on predictions, so prediction error shows up as infeasible plans on the ground truth.
 *
 * PowerTrain (Prashanthi S. K. et al., 2024) transfers a neural network trained on a reference
 * workload; with no reference here, the regressor is a smooth one fitted from scratch: ridge least
 * squares on a second-order polynomial of the log clocks, on log targets.
 */
import type { Objective } from './objective.js';
import { CandidateFront } from './front.js';
import { createRng, sample } from './rng.js';
import { QuadraticSurrogate, logClockFeatures } from './surrogate.js';
import { MeasurementTable } from './table.js';
import type { PreparedStrategy, Profiling, Strategy } from './strategy.js';

export function powertrain(modes = 50): Strategy {
  return {
    name: `powertrain-${modes}`,
    description: `PowerTrain-style: ${modes} random modes, a quadratic log-clock regressor per quantity, the best predicted plan`,
    *prepare(ctx): Profiling<PreparedStrategy> {
      const { space, measured } = ctx;
      const rng = createRng(ctx.seed);
      const picked = sample(rng, Array.from(space.indices), modes);
      yield picked;
      const features = picked.map((m) => logClockFeatures(space, m));
      const all = space.indices;
      const allFeatures = Array.from(all, (m) => logClockFeatures(space, m));
      const predicted = new MeasurementTable(space.size, measured.inferTimeS.map((b) => b.length));
      const fit = (column: Float64Array, into: Float64Array): void => {
        const rows = picked.map((m, i) => [features[i]!, column[m]!] as const).filter(([, v]) => v > 0);
        if (rows.length < 3) return; // not measurable on these modes: leave NaN
        const model = new QuadraticSurrogate(rows.map(([f]) => f), rows.map(([, v]) => Math.log(v)));
        for (let j = 0; j < all.length; j++) into[all[j]!] = Math.exp(model.predictOne(allFeatures[j]!));
      };
      fit(measured.trainTimeS, predicted.trainTimeS);
      fit(measured.trainPowerW, predicted.trainPowerW);
      measured.inferTimeS.forEach((perBatch, s) =>
        perBatch.forEach((col, b) => {
          fit(col, predicted.inferTimeS[s]![b]!);
          fit(measured.inferPowerW[s]![b]!, predicted.inferPowerW[s]![b]!);
        }),
      );
      const front = new CandidateFront(predicted, Int32Array.from(all).filter((m) => predicted.has(m)));
      return {
        choiceTable: predicted,
        // eslint-disable-next-line require-yield
        *answer(obj: Objective) {
          return front.bestFor(obj, ctx.margins)?.clone();
        },
      };
    },
  };
}
