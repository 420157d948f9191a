/**
 * Seeded randomness for strategies and sweeps (pure-rand's xoroshiro128+), so every run of a
 * strategy on the same problem key profiles the same modes and a benchmark is reproducible.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** FNV-1a over a string, folded with a number: a stable 32-bit seed for a named stream of draws. */
export function seedFrom(text: string, base = 0): number {
  let h = 0x811c9dc5 ^ (base | 0);
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export function createRng(seed: number): Rng {
  const gen = xoroshiro128plus(seed | 0);
  const next = (): number => {
    // Two 32-bit draws give a 53-bit float, so even large index ranges are sampled evenly.
    const hi = (gen.next() >>> 0) >>> 5;
    const lo = (gen.next() >>> 0) >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
  return { next, int: (n) => Math.floor(next() * n) };
}

/** k distinct items of `items`, in random order (a partial Fisher–Yates shuffle on a copy). */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  const pool = [...items];
  const n = Math.min(k, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}
