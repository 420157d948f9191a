/**
 * Mean power over a measured window from the controller's telemetry samples (SPEC §4: "power is
 * the mean of the sensor samples inside the measured window"), with a fallback when the window is
 * too short for the sampling interval. Timestamps are the board's clock on both sides: the
 * executor's window and the controller's samples come from the same board.
 */
import { POWER_MODE_KNOBS, meanAndStandardError, type PowerMode } from '@fulcrum/core';
import type { PowerSample } from './peers.js';

/** How the power figure was obtained. */
export type PowerMethod =
  /** Enough samples inside the measured window: their mean. */
  | 'window'
  /** Too few inside: topped up with samples from this run's warm-up (same workload, same mode), nearest first. */
  | 'window+warmup'
  /** Nothing inside or in the warm-up: the one sample nearest the window, if within one interval of it. */
  | 'nearest';

export interface WindowPower {
  readonly powerW: number;
  /** Standard error of powerW over the samples averaged (undefined with one sample). */
  readonly seW: number | undefined;
  /** Samples averaged. */
  readonly samples: number;
  readonly method: PowerMethod;
}

export interface WindowPowerOptions {
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Start of this run's warm-up (≈ window start − w × mean minibatch time); = window start when w = 0. */
  readonly warmupStartMs: number;
  readonly minSamples: number;
  /** The sampling interval, for the `nearest` tolerance. */
  readonly intervalMs: number;
}

/** Same knob values, within what a read-back (kHz ↔ MHz) can change. */
export function modesMatch(a: PowerMode, b: PowerMode): boolean {
  return POWER_MODE_KNOBS.every((k) => Math.abs(a[k] - b[k]) <= 0.01);
}

/** Samples at a mode other than the one being profiled: the knobs moved under the measurement. */
export class ModeDriftError extends Error {
  override readonly name = 'ModeDriftError';
  constructor(
    readonly expected: PowerMode,
    readonly seen: PowerMode,
  ) {
    super(`the knobs moved during the measurement (expected ${JSON.stringify(expected)}, telemetry shows ${JSON.stringify(seen)})`);
  }
}

/** No usable power sample at all for a window. */
export class NoPowerSamplesError extends Error {
  override readonly name = 'NoPowerSamplesError';
}

/**
 * The window's mean power. Throws `NoPowerSamplesError` when no sample qualifies, and
 * `ModeDriftError` when a used sample reports a mode other than `expectedMode`.
 */
export function windowPower(samples: readonly PowerSample[], options: WindowPowerOptions, expectedMode?: PowerMode): WindowPower {
  const { windowStartMs: start, windowEndMs: end } = options;
  let used = samples.filter((s) => s.atMs >= start && s.atMs <= end);
  let method: PowerMethod = 'window';
  if (used.length < options.minSamples) {
    const warmup = samples
      .filter((s) => s.atMs < start && s.atMs >= options.warmupStartMs)
      .sort((a, b) => b.atMs - a.atMs)
      .slice(0, options.minSamples - used.length);
    if (warmup.length > 0) {
      used = [...used, ...warmup];
      method = 'window+warmup';
    }
  }
  if (used.length === 0) {
    const mid = (start + end) / 2;
    let nearest: PowerSample | undefined;
    for (const s of samples) {
      const off = s.atMs < start ? start - s.atMs : s.atMs > end ? s.atMs - end : 0;
      if (off > options.intervalMs) continue;
      if (!nearest || Math.abs(s.atMs - mid) < Math.abs(nearest.atMs - mid)) nearest = s;
    }
    if (!nearest) throw new NoPowerSamplesError(`no power sample within ${options.intervalMs} ms of the measured window (${samples.length} samples received)`);
    used = [nearest];
    method = 'nearest';
  }
  if (expectedMode) {
    const drifted = used.find((s) => s.mode && !modesMatch(s.mode, expectedMode));
    if (drifted) throw new ModeDriftError(expectedMode, drifted.mode!);
  }
  const { mean, se } = meanAndStandardError(used.map((s) => s.powerW));
  return { powerW: mean, seW: se, samples: used.length, method };
}
