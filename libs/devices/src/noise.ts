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
  const rng = xoroshiro128plus(streamSeed | 0);
  // Box–Muller: two uniforms → two independent standard normals.
  const u1 = 1 - uniformFloat64(rng);
  const u2 = uniformFloat64(rng);
  const r = Math.sqrt(-2 * Math.log(u1));
  const z1 = r * Math.cos(2 * Math.PI * u2);
  const z2 = r * Math.sin(2 * Math.PI * u2);
  const shift = (sigma * sigma) / 2;
  return [Math.exp(sigma * z1 - shift), Math.exp(sigma * z2 - shift)];
}
