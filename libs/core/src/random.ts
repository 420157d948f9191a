/**
 * mulberry32: a small, fast seeded PRNG — same seed, same sequence — for what Fulcrum draws itself
 * (arrival times, simulated sensor noise, synthetic inputs). Not for anything secret. Returns
 * numbers in [0, 1). A seed of 0 (mod 2³²) starts from a fixed non-zero state.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
