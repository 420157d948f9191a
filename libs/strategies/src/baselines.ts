/**
 * The simple baselines of SPEC §5: the exhaustive oracle on the ground truth, MAXN with the best
 * batch sizes, the best NVIDIA preset, and random-k (best observed among k random modes).
 */
import { NO_MARGINS, bestAmong, type Objective, type SafetyMargins } from './objective.js';
import { CandidateFront } from './front.js';
import { createRng, sample } from './rng.js';
import type { PreparedStrategy, Profiling, Strategy, StrategyContext } from './strategy.js';

/** The best plan on the noise-free ground truth over every mode, judged with the given margins. */
function truthSearch(name: string, description: string, marginsOf: (ctx: StrategyContext) => SafetyMargins): Strategy {
  return {
    name,
    description,
    needsGroundTruth: true,
    // eslint-disable-next-line require-yield
    *prepare(ctx: StrategyContext): Profiling<PreparedStrategy> {
      const truth = ctx.truth!;
      const all = Int32Array.from(ctx.space.indices).filter((m) => truth.has(m));
      const front = new CandidateFront(truth, all);
      const margins = marginsOf(ctx);
      return {
        choiceTable: truth,
        // eslint-disable-next-line require-yield
        *answer(obj: Objective) {
          return front.bestFor(obj, margins)?.clone();
        },
      };
    },
  };
}

/** Exhaustive search on the noise-free ground truth: X*, the reference every plan is scored against. */
export const oracle = truthSearch(
  'oracle',
  'exhaustive search over every mode on the noise-free ground truth (needs a virtual device or a profile table)',
  () => NO_MARGINS,
);

/**
 * The oracle held to the strategies' safety margins: the truth of every mode, but a plan must meet
 * the budgets with the margins to spare. What the margins alone cost, with perfect knowledge and no
 * search: the ceiling of any strategy that needs them. Not in the bench's default list.
 */
export const oracleWithMargins = truthSearch(
  'oracle-margins',
  'the exhaustive oracle on the noise-free ground truth, held to the safety margins: what the margins alone cost',
  (ctx) => ctx.margins,
);

/**
 * Every mode profiled (with the backend's noise) and the best observed plan with the margins: what
 * profiling alone can reach, the ceiling of any strategy that picks among raw measurements. Not in
 * the bench's default list (it profiles the whole grid, 18,096 modes on Orin AGX).
 */
export const exhaustive: Strategy = {
  name: 'exhaustive',
  description: 'every mode profiled (noisy measurements), the best observed plan with the safety margins: the ceiling of picking among raw measurements',
  *prepare(ctx: StrategyContext): Profiling<PreparedStrategy> {
    const all = Array.from(ctx.space.indices);
    yield all;
    const front = new CandidateFront(ctx.measured, Int32Array.from(all).filter((m) => ctx.measured.has(m)));
    return {
      // eslint-disable-next-line require-yield
      *answer(obj: Objective) {
        return front.bestFor(obj, ctx.margins)?.clone();
      },
    };
  },
};

/** A fixed list of modes, profiled once per key; every problem gets the best of them. */
function fixedSet(ctx: StrategyContext, modes: readonly number[]): Profiling<PreparedStrategy> {
  return (function* () {
    yield modes;
    const indices = Int32Array.from(modes);
    return {
      // eslint-disable-next-line require-yield
      *answer(obj: Objective) {
        return bestAmong(ctx.measured, indices, obj, ctx.margins)?.clone();
      },
    };
  })();
}

export const maxn: Strategy = {
  name: 'maxn',
  description: 'MAXN (every knob at its top value) with the best inference batch sizes: 1 mode',
  prepare: (ctx) => fixedSet(ctx, [ctx.space.topIndex()]),
};

export const bestPreset: Strategy = {
  name: 'best-preset',
  description: "the best of the device's NVIDIA presets (MAXN, 15W, 30W, 50W on Orin AGX), each with its best batch sizes",
  prepare(ctx) {
    const modes = new Set<number>();
    for (const p of ctx.presets) {
      const i = ctx.space.indexOf(p.mode);
      if (i !== undefined) modes.add(i);
    }
    if (modes.size === 0) modes.add(ctx.space.topIndex());
    return fixedSet(ctx, [...modes]);
  },
};

/** k modes drawn at random (seeded per key), the best feasible one observed. */
export function randomK(k: number): Strategy {
  return {
    name: `random-${k}`,
    description: `the best of ${k} modes drawn uniformly at random (seeded per problem key)`,
    prepare(ctx) {
      const rng = createRng(ctx.seed);
      return fixedSet(ctx, sample(rng, Array.from(ctx.space.indices), k));
    },
  };
}
