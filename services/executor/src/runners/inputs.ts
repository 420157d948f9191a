/** What the runners accept as one sample's values (shared, so both refuse the same inputs alike). */

/**
 * Why `values` cannot be fed as numbers — `value <i> is <what>` for the first that is not a finite
 * number (a JSON array may hold anything; a typed array, NaN or ±Infinity) — or undefined. A
 * bigint (a BigInt64Array's element) is an integer and passes.
 */
export function notNumbers(values: ArrayLike<unknown>): string | undefined {
  for (let at = 0; at < values.length; at++) {
    const v = values[at];
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v))) continue;
    return `value ${at} is ${typeof v === 'number' ? v : `a ${v === null ? 'null' : typeof v}`}`;
  }
  return undefined;
}
