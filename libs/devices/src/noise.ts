/**
 * Seeded measurement noise. Each (seed, workload, kind, batch, mode, repeat) gets its own stream of
 * pure-rand's xoroshiro128+ (counter-based: the same query always gets the same numbers whatever
 * else was measured before, so strategies compared on one seed see the same "board"), and the
 * noise is multiplicative log-normal with mean 1: x·exp(σz − σ²/2), z standard normal.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { WorkloadKind } from '@fulcrum/core';

/** Default relative spread of time and power measurements (SPEC §3: about 2–3%). */
export const DEFAULT_NOISE = 0.025;
export const DEFAULT_SEED = 1;

/** murmur3's 32-bit finaliser. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(h: number, v: number): number {
  return fmix((h ^ Math.imul(v | 0, 0x9e3779b1)) + 0x7f4a7c15);
}

const stringHashes = new Map<string, number>();

export function hashString(s: string): number {
  let h = stringHashes.get(s);
  if (h === undefined) {
    h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = fmix(h);
    stringHashes.set(s, h);
  }
  return h;
}

/** The seed of one query's noise stream, before the mode (see modeSeed). */
export function querySeed(seed: number, workload: string, kind: WorkloadKind, batchSize: number, repeat: number): number {
  let h = mix(fmix(seed >>> 0) ^ hashString(workload), kind === 'train' ? 1 : 2);
  h = mix(h, batchSize);
  return mix(h, repeat);
}

/** Adds the mode (clocks in tenths/hundredths of MHz, exact for Jetson tables) to a query seed. */
export function modeSeed(base: number, cores: number, cpuMhz: number, gpuMhz: number, emcMhz: number): number {
  let h = mix(base, cores);
  h = mix(h, Math.round(cpuMhz * 100));
  h = mix(h, Math.round(gpuMhz * 100));
  return mix(h, Math.round(emcMhz * 100));
}

/** Two independent noise factors (time, power) for one stream seed; σ = 0 gives exactly 1. */
export function noiseFactors(streamSeed: number, sigma: number): [time: number, power: number] {
  if (sigma === 0) return [1, 1];
  const [z1, z2] = normals(xoroshiro128plus(streamSeed | 0));
  const shift = (sigma * sigma) / 2;
  return [Math.exp(sigma * z1 - shift), Math.exp(sigma * z2 - shift)];
}

/**
 * The measurement-window model (issue 16): of the total relative spread σ of a measurement with
 * REFERENCE_SAMPLES minibatches, a share SYSTEMATIC_VARIANCE_SHARE of the variance is systematic —
 * the window's thermal state, the same for every sample of it, not averaging away — and the rest
 * is per sample, shrinking as 1/√n. So a window of n samples has spread
 * √(σ_sys² + σ_sample²·REFERENCE_SAMPLES/n), and at n = REFERENCE_SAMPLES exactly σ, with the
 * very draws `noiseFactors` gives (the benchmark's numbers do not move). What a measurement can
 * see of its own uncertainty is the spread of its samples: its standard error is the per-sample
 * part only, drawn as σ_sample·√(χ²ₙ₋₁/(n−1)) per window — the systematic part is invisible to it,
 * as on a real board.
 */
export const REFERENCE_SAMPLES = 20;
export const SYSTEMATIC_VARIANCE_SHARE = 0.16;

export interface WindowNoise {
  /** Multiplicative factors on the true time and power (mean 1). */
  readonly time: number;
  readonly power: number;
  /** The standard errors the window's own samples show, relative to the measured value; undefined for one sample. */
  readonly timeRelSe: number | undefined;
  readonly powerRelSe: number | undefined;
}

/** Box–Muller: two uniforms of `rng` → two independent standard normals. */
function normals(rng: ReturnType<typeof xoroshiro128plus>): [number, number] {
  const u1 = 1 - uniformFloat64(rng);
  const u2 = uniformFloat64(rng);
  const r = Math.sqrt(-2 * Math.log(u1));
  return [r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)];
}

/** χ²ₖ/k by Wilson–Hilferty from a standard normal (k ≥ 1; accurate to a few % for k ≥ 3). */
function chiSquareOverK(k: number, z: number): number {
  const c = 2 / (9 * k);
  return Math.max(0, 1 - c + z * Math.sqrt(c)) ** 3;
}

/** One measurement window of `samples` minibatches (see REFERENCE_SAMPLES); σ = 0 gives exactly 1 and SE 0. */
export function windowNoise(streamSeed: number, sigma: number, samples: number = REFERENCE_SAMPLES): WindowNoise {
  if (!Number.isSafeInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  if (sigma === 0) return { time: 1, power: 1, timeRelSe: samples > 1 ? 0 : undefined, powerRelSe: samples > 1 ? 0 : undefined };
  const rng = xoroshiro128plus(streamSeed | 0);
  // The first two normals are noiseFactors' own (time, power): at the reference window the totals are theirs.
  const [zt, zp] = normals(rng);
  // The window's other draws come from a stream of their own (a generator's next outputs after a
  // small-integer seed are not independent enough of its first).
  const more = xoroshiro128plus(fmix((streamSeed ^ 0x5bd1e995) >>> 0) | 0);
  const [wt, wp] = normals(more);
  const [ct, cp] = normals(more);
  const a = Math.sqrt(SYSTEMATIC_VARIANCE_SHARE);
  const b = Math.sqrt(1 - SYSTEMATIC_VARIANCE_SHARE);
  const sys = sigma * a;
  const perSample = sigma * b * Math.sqrt(REFERENCE_SAMPLES / samples);
  const variance = samples === REFERENCE_SAMPLES ? sigma * sigma : sys * sys + perSample * perSample;
  // (z1, z2) = a rotation of (z, w): independent standard normals with a·z1 + b·z2 = z.
  const total = (z: number, w: number): number => (samples === REFERENCE_SAMPLES ? sigma * z : sys * (a * z + b * w) + perSample * (b * z - a * w));
  const se = (c: number): number | undefined => (samples > 1 ? perSample * Math.sqrt(chiSquareOverK(samples - 1, c)) : undefined);
  return { time: Math.exp(total(zt, wt) - variance / 2), power: Math.exp(total(zp, wp) - variance / 2), timeRelSe: se(ct), powerRelSe: se(cp) };
}
