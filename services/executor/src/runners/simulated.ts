/**
 * The simulated runner: a virtual device's minibatch times, slept on a (scalable) clock. With a
 * `ScaledClock(100)` a 200 ms training minibatch takes 2 ms of host time and reports 0.2 s.
 */
import type { PowerMode } from '@fulcrum/core';
import { ScaledClock, type Clock } from '../clock.js';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';

/**
 * Minibatch times of a (virtual) device. The executor's adapter to @fulcrum/devices implements it
 * for a virtual Jetson; `fixedTimes` for hand-made numbers.
 */
export interface MinibatchTimeSource {
  /** tT(m) for a training minibatch of `batchSize`. */
  trainTimeS(mode: PowerMode | undefined, batchSize: number): number;
  /** tI(m, b) of `stream`'s inference workload for a minibatch of `batchSize`. */
  inferTimeS(stream: string, mode: PowerMode | undefined, batchSize: number): number;
}

/**
 * Times that do not depend on the mode: tT, and per stream either a function of b or a table
 * {b: seconds} (a batch size missing from the table gets the next larger one's time, else the largest's).
 */
export function fixedTimes(options: {
  trainTimeS: number;
  inferTimeS: Readonly<Record<string, ((batchSize: number) => number) | Readonly<Record<number, number>>>>;
}): MinibatchTimeSource {
  return {
    trainTimeS: () => options.trainTimeS,
    inferTimeS: (stream, _mode, b) => {
      const spec = options.inferTimeS[stream];
      if (spec === undefined) throw new Error(`fixedTimes: no inference times for stream ${JSON.stringify(stream)}`);
      if (typeof spec === 'function') return spec(b);
      const sizes = Object.keys(spec).map(Number).sort((x, y) => x - y);
      const at = sizes.find((s) => s >= b) ?? sizes[sizes.length - 1];
      if (at === undefined) throw new Error(`fixedTimes: empty table for stream ${stream}`);
      return spec[at]!;
    },
  };
}

export class SimulatedRunner implements MinibatchRunner {
  readonly name = 'simulated';
  private mode: PowerMode | undefined;
  readonly clock: Clock;

  constructor(
    private readonly times: MinibatchTimeSource,
    options: { clock?: Clock; mode?: PowerMode } = {},
  ) {
    this.clock = options.clock ?? new ScaledClock(1);
    this.mode = options.mode;
  }

  setMode(mode: PowerMode | undefined): void {
    this.mode = mode;
  }

  async runTraining(batchSize: number): Promise<TrainingResult> {
    const timeS = this.times.trainTimeS(this.mode, batchSize);
    await this.clock.sleep(timeS);
    return { timeS };
  }

  async runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const timeS = this.times.inferTimeS(stream, this.mode, inputs.length);
    await this.clock.sleep(timeS);
    return { timeS, outputs: inputs.map((_, i) => ({ index: i })) };
  }

  async close(): Promise<void> {}
}
