/**
 * The standard error of a mean: how sure a measurement is (issue 16). Samples are taken as
 * independent draws; minibatch times and power-sensor samples are close to that at the sampling
 * intervals Fulcrum uses, and a systematic offset of the whole window (thermal state) is not in it.
 */

/** Mean and standard error (sample standard deviation over √n) of `xs`; `se` undefined below two values. */
export function meanAndStandardError(xs: readonly number[]): { readonly mean: number; readonly se: number | undefined } {
  const n = xs.length;
  if (n === 0) return { mean: Number.NaN, se: undefined };
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= n;
  if (n < 2) return { mean, se: undefined };
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return { mean, se: Math.sqrt(ss / (n - 1) / n) };
}
