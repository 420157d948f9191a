/**
 * Request arrivals for simulations, load generators and benchmarks: evenly spaced or Poisson,
 * at a rate that may change over time (a rate trace), or replayed from a trace of arrival times.
 * Seeded, so a scenario replays exactly.
 */
import { PROBLEM_LIMITS, TOKEN_RULE, ValidationError, seededRandom } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';

export interface Arrival {
  readonly tS: number;
  readonly stream: string;
}

/** From `startS` on, requests arrive at `ratePerS` (0: none) until the next segment. */
export interface RateSegment {
  readonly startS: number;
  readonly ratePerS: number;
}

/** Piecewise-constant arrival rate per stream; segments sorted by startS. */
export type RateTrace = Readonly<Record<string, readonly RateSegment[]>>;

export type ArrivalProcess = 'even' | 'poisson';

/** Arrival times are drawn with core's seeded PRNG (mulberry32): same seed, same sequence. */
export { seededRandom };


function rateAt(segments: readonly RateSegment[], tS: number): { ratePerS: number; endS: number } {
  let i = -1;
  for (let j = 0; j < segments.length && segments[j]!.startS <= tS; j++) i = j;
  const next = segments[i + 1];
  return { ratePerS: i >= 0 ? segments[i]!.ratePerS : 0, endS: next ? next.startS : Infinity };
}

/**
 * One stream's arrivals in [0, durationS). Even: gaps of 1/λ(t) starting at `phaseS`; Poisson:
 * exponential gaps, restarted at each segment boundary (exact for a piecewise-constant rate,
 * the process being memoryless).
 */
export function* streamArrivals(
  stream: string,
  segments: readonly RateSegment[],
  options: { process: ArrivalProcess; durationS: number; random?: () => number; phaseS?: number },
): Generator<Arrival> {
  const random = options.random ?? seededRandom(1);
  let t = options.phaseS ?? 0;
  while (t < options.durationS) {
    const { ratePerS, endS } = rateAt(segments, t);
    if (!(ratePerS > 0)) {
      if (endS === Infinity) return;
      t = endS;
      continue;
    }
    if (options.process === 'even') {
      yield { tS: t, stream };
      t += 1 / ratePerS;
    } else {
      const next = t - Math.log(1 - random()) / ratePerS;
      if (next >= endS) {
        t = endS;
        continue;
      }
      t = next;
      if (t < options.durationS) yield { tS: t, stream };
    }
  }
}

/** Merges time-ordered arrival sequences into one (ties: the earlier sequence first). */
export function* mergeArrivals(sources: Iterable<Arrival>[]): Generator<Arrival> {
  const its = sources.map((s) => s[Symbol.iterator]());
  const heads = its.map((it) => it.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (!h.done && (best < 0 || h.value.tS < (heads[best]!.value as Arrival).tS)) best = i;
    }
    if (best < 0) return;
    yield heads[best]!.value as Arrival;
    heads[best] = its[best]!.next();
  }
}

/** All streams of a rate trace, merged; each stream gets its own seeded generator and phase. */
export function traceArrivals(trace: RateTrace, options: { process: ArrivalProcess; durationS: number; seed?: number }): Generator<Arrival> {
  const names = Object.keys(trace);
  return mergeArrivals(
    names.map((name, k) =>
      streamArrivals(name, trace[name]!, {
        process: options.process,
        durationS: options.durationS,
        random: seededRandom((options.seed ?? 1) * 7919 + k),
        // Offset even streams so that K streams do not all arrive in the same instant.
        phaseS: options.process === 'even' ? (k * 0.37) / Math.max(1e-9, trace[name]![0]?.ratePerS ?? 1) : 0,
      }),
    ),
  );
}

/** A constant rate per stream as a trace. */
export function constantRates(rates: Readonly<Record<string, number>>): RateTrace {
  return Object.fromEntries(Object.entries(rates).map(([s, r]) => [s, [{ startS: 0, ratePerS: r }]]));
}

/**
 * Parses a rate trace: CSV with a header `time_s,stream,rate_per_s` (one row per change), or JSON
 * `{ "<stream>": [[time_s, rate_per_s], ...] }`; each rate in [0, PROBLEM_LIMITS.maxArrivalRatePerS].
 * `field` names the input in errors.
 */
export function parseRateTrace(text: string, field = 'trace'): RateTrace {
  const trimmed = text.trim();
  const out: Record<string, RateSegment[]> = {};
  const add = (stream: string, startS: number, ratePerS: number, where: string): void => {
    if (!TOKEN_RULE.test(stream)) throw new ValidationError(field, `${where}: stream name ${describeValue(stream)} must be 1–64 letters, digits, '-' or '_', starting with a letter or digit`);
    if (!Number.isFinite(startS) || startS < 0) throw new ValidationError(field, `${where}: time_s must be a number ≥ 0`);
    if (!Number.isFinite(ratePerS) || ratePerS < 0) throw new ValidationError(field, `${where}: rate_per_s must be a number ≥ 0`);
    if (ratePerS > PROBLEM_LIMITS.maxArrivalRatePerS) {
      throw new ValidationError(field, `${where}: rate_per_s must be at most ${PROBLEM_LIMITS.maxArrivalRatePerS} requests/s (a stream's largest arrival rate), got ${describeValue(ratePerS)}`);
    }
    (out[stream] ??= []).push({ startS, ratePerS });
  };
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw new ValidationError(field, `not valid JSON: ${(err as Error).message}`);
    }
    for (const [stream, rows] of Object.entries(json as Record<string, unknown>)) {
      if (!Array.isArray(rows)) throw new ValidationError(field, `stream ${stream}: expected [[time_s, rate_per_s], ...]`);
      rows.forEach((row, i) => {
        if (!Array.isArray(row) || row.length !== 2) throw new ValidationError(field, `stream ${stream} row ${i}: expected [time_s, rate_per_s]`);
        add(stream, Number(row[0]), Number(row[1]), `stream ${stream} row ${i}`);
      });
    }
  } else {
    const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    const header = lines.shift()?.split(',').map((h) => h.trim());
    if (!header || header.join(',') !== 'time_s,stream,rate_per_s') {
      throw new ValidationError(field, `expected a CSV header time_s,stream,rate_per_s (or JSON), got ${describeValue(header?.join(',') ?? '')}`);
    }
    lines.forEach((line, i) => {
      const cells = line.split(',').map((c) => c.trim());
      if (cells.length !== 3) throw new ValidationError(field, `line ${i + 2}: expected 3 cells, got ${cells.length}`);
      add(cells[1]!, Number(cells[0]), Number(cells[2]), `line ${i + 2}`);
    });
  }
  if (Object.keys(out).length === 0) throw new ValidationError(field, 'has no rows');
  for (const segs of Object.values(out)) segs.sort((a, b) => a.startS - b.startS);
  return out;
}

/** Parses recorded arrivals: CSV `time_s,stream`, one row per request. */
export function parseArrivalTimes(text: string, field = 'arrivals'): Arrival[] {
  const lines = text.trim().split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const header = lines.shift()?.split(',').map((h) => h.trim()).join(',');
  if (header !== 'time_s,stream') throw new ValidationError(field, `expected a CSV header time_s,stream, got ${describeValue(header ?? '')}`);
  const out = lines.map((line, i) => {
    const [t, s] = line.split(',').map((c) => c.trim());
    const tS = Number(t);
    if (!Number.isFinite(tS) || tS < 0 || !s) throw new ValidationError(field, `line ${i + 2}: expected time_s ≥ 0 and a stream, got ${describeValue(line)}`);
    return { tS, stream: s };
  });
  return out.sort((a, b) => a.tS - b.tS);
}
