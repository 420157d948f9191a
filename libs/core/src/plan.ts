import { compareEvaluations, evaluate, type Evaluation, type Measurement, type OperatingPoint } from './model.js';
import type { Problem } from './problem.js';

/** tI(m,b), pI(m,b) of a stream on the mode being considered; undefined where nothing is known. */
export type InferenceLookup = (streamIndex: number, batchSize: number) => Measurement | undefined;

export interface BatchChoice {
  /** One batch size per stream, in the problem's stream order. */
  readonly batchSizes: readonly number[];
  readonly point: OperatingPoint;
  readonly evaluation: Evaluation;
}

/** Every combination of the streams' candidate batch sizes that has measurements. */
function* batchCombinations(problem: Problem, inference: InferenceLookup): Generator<number[]> {
  const options = problem.streams.map((s, i) => s.candidateBatchSizes.filter((b) => inference(i, b) !== undefined));
  if (options.some((o) => o.length === 0)) return;
  const index = options.map(() => 0);
  for (;;) {
    yield index.map((j, i) => options[i]![j]!);
    let k = index.length - 1;
    while (k >= 0 && index[k] === options[k]!.length - 1) index[k--] = 0;
    if (k < 0) return;
    index[k]!++;
  }
}

/**
 * The best batch sizes on one mode under SPEC §2: the feasible combination with the most training
 * throughput, or, when none is feasible, the closest one (see `compareEvaluations`).
 * Undefined when some stream has no measured batch size on this mode.
 */
export function bestBatchSizes(problem: Problem, training: Measurement, inference: InferenceLookup): BatchChoice | undefined {
  let best: BatchChoice | undefined;
  for (const batchSizes of batchCombinations(problem, inference)) {
    const point: OperatingPoint = {
      trainBatchSize: problem.trainBatchSize,
      training,
      streams: problem.streams.map((s, i) => ({
        name: s.name,
        arrivalRatePerS: s.arrivalRatePerS,
        latencyBudgetS: s.latencyBudgetS,
        batchSize: batchSizes[i]!,
        inference: inference(i, batchSizes[i]!)!,
      })),
    };
    const evaluation = evaluate(point, problem);
    if (!best || compareEvaluations(evaluation, best.evaluation) < 0) best = { batchSizes, point, evaluation };
  }
  return best;
}

/** A one-line reason for a verdict, e.g. `latency of stream cam: 0.31 s > 0.25 s budget`. */
export function describeBinding(evaluation: Evaluation): string {
  const c = evaluation.binding;
  const op = c.satisfied ? (c.kind === 'stability' ? '<' : '≤') : c.kind === 'stability' ? '≥' : '>';
  const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4));
  switch (c.kind) {
    case 'stability':
      return `GPU utilisation ρ = ${fmt(c.value)} ${op} 1`;
    case 'latency':
      return `worst-case latency of stream ${c.stream}: ${fmt(c.value)} s ${op} ${fmt(c.limit)} s budget`;
    case 'power':
      return `${evaluation.powerSemantics} power ${fmt(c.value)} W ${op} ${fmt(c.limit)} W budget`;
  }
}
