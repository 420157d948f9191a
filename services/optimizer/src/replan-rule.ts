/**
 * The automatic re-plan rule: an `arrivals.rate` event for a plan this optimizer made triggers a
 * re-plan when some stream's measured rate differs from the rate the plan was made for by more
 * than `rateThreshold` (relative), at most once per `minIntervalS` per device.
 */
import type { Problem } from '@fulcrum/core';
import type { ArrivalRatesEvent } from '@fulcrum/bus';

/** A stream with no arrivals in the window is planned for this rate (a rate must be > 0). */
export const MIN_PLANNED_RATE_PER_S = 1e-3;

export interface RateMove {
  readonly stream: string;
  readonly plannedRatePerS: number;
  readonly measuredRatePerS: number;
}

/**
 * The problem to re-plan for, with the measured rates, when a rate moved beyond the threshold;
 * undefined otherwise. The reference rate is the rate the plan's problem gave (what the plan was
 * made for; the event's `plannedRatePerS` says the same when the executor runs that plan).
 * Streams the event does not mention keep their rates.
 */
export function movedProblem(problem: Problem, event: ArrivalRatesEvent, rateThreshold: number): { problem: Problem; moves: RateMove[] } | undefined {
  const moves: RateMove[] = [];
  const measured = new Map<string, number>();
  for (const s of event.streams) {
    const own = problem.streams.find((p) => p.name === s.stream);
    if (!own) continue;
    const planned = own.arrivalRatePerS;
    measured.set(s.stream, s.arrivalRatePerS);
    if (Math.abs(s.arrivalRatePerS - planned) > rateThreshold * planned) moves.push({ stream: s.stream, plannedRatePerS: planned, measuredRatePerS: s.arrivalRatePerS });
  }
  if (moves.length === 0) return undefined;
  return {
    problem: { ...problem, streams: problem.streams.map((s) => (measured.has(s.name) ? { ...s, arrivalRatePerS: Math.max(MIN_PLANNED_RATE_PER_S, measured.get(s.name)!) } : s)) },
    moves,
  };
}
