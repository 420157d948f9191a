/**
 * A backend from two functions (time and power of a minibatch on a mode), with seeded
 * multiplicative noise on the measurements and the functions themselves as ground truth. Tests use
 * it with small hand-made grids; `@fulcrum/devices` models plug in through the same shape.
 */
import type { Measurement, PowerMode, PowerModeGrid, PowerPreset } from '@fulcrum/core';
import { remeasureMinibatchesOf } from '@fulcrum/core/internal';
import type { ProfileBackend } from './profiler.js';
import { createRng, seedFrom } from './rng.js';
import { ModeSpace } from './space.js';
import { MeasurementTable, type ModeMeasurement, type TableKey } from './table.js';

/** SPEC §4's measurement protocol, for the cost of profiling one mode. */
export interface ProfilingProtocol {
  /** Switching the knobs. */
  readonly switchS: number;
  /** Waiting for clocks and temperature to settle. */
  readonly settleS: number;
  readonly warmupMinibatches: number;
  readonly measuredMinibatches: number;
  /**
   * Measured minibatches of a re-measure's window (issue 16): longer than a first window, since a
   * re-measure is asked for where a margin decides, and its samples' part of the error shrinks as
   * 1/√n (the thermal part does not). Default 4 × `measuredMinibatches`.
   */
  readonly remeasureMinibatches?: number | undefined;
}

export const DEFAULT_PROTOCOL: ProfilingProtocol = { switchS: 2, settleS: 10, warmupMinibatches: 5, measuredMinibatches: 20, remeasureMinibatches: 80 };

/** Measured minibatches of a re-measure's window under a protocol (core's rule). */
export { remeasureMinibatchesOf };

/**
 * switch + settle + (w + n) minibatches of training and of every stream at every candidate batch
 * size; n is the protocol's `remeasureMinibatches` for a re-measure's window (`again`).
 */
export function profilingCostS(protocol: ProfilingProtocol, training: Measurement, inference: readonly (readonly (Measurement | undefined)[])[], again = false): number {
  let minibatchS = training.timeS;
  for (const row of inference) for (const m of row) if (m) minibatchS += m.timeS;
  const n = again ? remeasureMinibatchesOf(protocol) : protocol.measuredMinibatches;
  return protocol.switchS + protocol.settleS + (protocol.warmupMinibatches + n) * minibatchS;
}

export type MinibatchModel = (mode: PowerMode, workload: string, batchSize: number) => Measurement | undefined;

export interface ModelBackendOptions {
  readonly deviceId: string;
  readonly grid?: PowerModeGrid;
  /** Alternatively, exactly these modes (a lattice with holes). */
  readonly modes?: readonly PowerMode[];
  readonly presets?: readonly PowerPreset[];
  readonly train: MinibatchModel;
  readonly infer: MinibatchModel;
  /** Relative standard deviation of the measurement noise on time and power (default 0). */
  readonly noiseFraction?: number;
  readonly seed?: number;
  readonly protocol?: ProfilingProtocol;
}

/** A standard normal draw (Box–Muller). */
function gaussian(rng: { next(): number }): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function createModelBackend(options: ModelBackendOptions): ProfileBackend & { readonly measureCalls: number } {
  const space = options.modes ? ModeSpace.fromModes(options.modes) : ModeSpace.fromGrid(options.grid!);
  const noise = options.noiseFraction ?? 0;
  const seed = options.seed ?? 7;
  const protocol = options.protocol ?? DEFAULT_PROTOCOL;
  const noisy = (m: Measurement | undefined, what: string, modeIndex: number): Measurement | undefined => {
    if (!m || noise === 0) return m;
    // Seeded by (what, mode): the same key re-measured gives the same numbers, like a stored profile.
    const rng = createRng(seedFrom(`${what}#${modeIndex}`, seed));
    return { timeS: m.timeS * Math.max(0.5, 1 + noise * gaussian(rng)), powerW: m.powerW * Math.max(0.5, 1 + noise * gaussian(rng)) };
  };
  const exact = (key: TableKey, modeIndex: number): ModeMeasurement => {
    const mode = space.mode(modeIndex);
    const training = options.train(mode, key.trainWorkload, key.trainBatchSize);
    if (!training) throw new Error(`no training measurement for ${key.trainWorkload} on ${space.describe(modeIndex)}`);
    const inference = key.streams.map((s) => s.candidateBatchSizes.map((b) => options.infer(mode, s.workload, b)));
    return { training, inference, costS: profilingCostS(protocol, training, inference) };
  };
  let measureCalls = 0;
  return {
    deviceId: options.deviceId,
    space,
    presets: options.presets ?? [],
    noiseFraction: noise,
    get measureCalls() {
      return measureCalls;
    },
    measure(key, modeIndex) {
      measureCalls++;
      const e = exact(key, modeIndex);
      const training = noisy(e.training, `train|${key.trainWorkload}|${key.trainBatchSize}`, modeIndex)!;
      const inference = e.inference.map((row, s) => row.map((m, bi) => noisy(m, `infer|${key.streams[s]!.workload}|${key.streams[s]!.candidateBatchSizes[bi]}`, modeIndex)));
      return { training, inference, costS: e.costS };
    },
    groundTruth(key) {
      const table = MeasurementTable.forKey(space.size, key);
      for (const i of space.indices) table.set(i, exact(key, i));
      return table;
    },
  };
}
