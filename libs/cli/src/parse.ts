/** Option parsers shared by several commands (profiles export, solve, bench): commander argParsers that throw InvalidArgumentError. */
import { InvalidArgumentError } from 'commander';
import { DEFAULT_NOISE } from '@fulcrum/devices';
import { UsageError } from './usage.js';

/** `0`, `default` (2.5%) or a relative spread such as `0.03`. */
export function parseNoise(text: string): number {
  if (text === 'default') return DEFAULT_NOISE;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || v >= 1) throw new InvalidArgumentError('must be 0, "default" or a relative spread in [0, 1), e.g. 0.03.');
  return v;
}

export function parseSeed(text: string): number {
  const v = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(v)) throw new InvalidArgumentError('must be an integer.');
  return v;
}

/** `1,2,4` or ranges `1-64`, `1-8,16,32`. */
export function parseBatchSizes(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = Number(m?.[1]);
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi < lo || hi > 100000) throw new InvalidArgumentError('must be positive integers or ranges, e.g. 1,2,4 or 1-64.');
    for (let b = lo; b <= hi; b++) out.add(b);
  }
  return [...out].sort((a, b) => a - b);
}

/** `--target-probability`: a probability in (0.5, 1), e.g. 0.975. */
export function parseTargetProbability(text: string): number {
  const p = Number(text);
  if (!/^\s*(0?\.\d+|1(\.0*)?|0)\s*$/.test(text) || !(p > 0.5 && p < 1)) throw new InvalidArgumentError(`a probability between 0.5 and 1 (exclusive), e.g. 0.975; got ${JSON.stringify(text.slice(0, 64))}`);
  return p;
}

/**
 * A `key=value,key=value` spec (`--stream`): its values by key. A UsageError on `flag` for a key
 * not in `keys`, a key without a value, or a key given twice (the last would silently win).
 */
export function parseKeyValues<K extends string>(spec: string, flag: string, keys: readonly K[]): Map<K, string> {
  const values = new Map<K, string>();
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (!(keys as readonly string[]).includes(key)) throw new UsageError(`${flag}: unknown key ${JSON.stringify(key.slice(0, 64))} in ${JSON.stringify(spec.slice(0, 200))}; keys: ${keys.join(', ')}`);
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (value === '') throw new UsageError(`${flag}: ${key} needs a value (${key}=...)`);
    if (values.has(key as K)) throw new UsageError(`${flag}: ${key} is given twice in ${JSON.stringify(spec.slice(0, 200))}`);
    values.set(key as K, value);
  }
  return values;
}
