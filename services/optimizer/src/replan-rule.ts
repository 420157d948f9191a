/**
 * The automatic re-plan rule: an `arrivals.rate` event about a plan this optimizer made triggers a
 * re-plan when some stream's measured rate differs from the rate the plan was made for by more
 * than `rateThreshold` (relative) and by more than `noiseSigmas` standard deviations of a Poisson
 * rate estimated over the event's window (√(λ/W)), so random bunching at a steady rate does not
 * re-plan — the executor's own guard. A rate of 0 (no traffic in the window) never triggers.
 */
import type { Problem } from '@fulcrum/core';
import type { ArrivalRatesEvent } from '@fulcrum/bus';

export interface RateRule {
  /** Relative move against the planned rate. */
  readonly rateThreshold: number;
  /** Poisson noise guard, in standard deviations of the windowed estimate; 0 turns it off. */
  readonly noiseSigmas: number;
}

export interface RateMove {
  readonly stream: string;
  readonly plannedRatePerS: number;
  readonly measuredRatePerS: number;
}

/**
 * The problem to re-plan for, with the measured rates, when a rate moved beyond the rule;
 * undefined otherwise. The reference rate is the rate the plan's problem gave (what the plan was
 * made for; the event's `plannedRatePerS` says the same when the executor runs that plan).
 * Streams the event does not mention, or reports at 0, keep their rates.
 */
export function movedProblem(problem: Problem, event: ArrivalRatesEvent, rule: RateRule): { problem: Problem; moves: RateMove[] } | undefined {
  const moves: RateMove[] = [];
  const measured = new Map<string, number>();
  for (const s of event.streams) {
    const own = problem.streams.find((p) => p.name === s.stream);
    if (!own || !(s.arrivalRatePerS > 0)) continue;
    const planned = own.arrivalRatePerS;
    measured.set(s.stream, s.arrivalRatePerS);
    const moved = Math.abs(s.arrivalRatePerS - planned);
    const noise = rule.noiseSigmas * Math.sqrt(Math.max(s.arrivalRatePerS, planned) / event.windowS);
    if (moved > rule.rateThreshold * planned && moved > noise) moves.push({ stream: s.stream, plannedRatePerS: planned, measuredRatePerS: s.arrivalRatePerS });
  }
  if (moves.length === 0) return undefined;
  return { problem: { ...problem, streams: problem.streams.map((s) => (measured.has(s.name) ? { ...s, arrivalRatePerS: measured.get(s.name)! } : s)) }, moves };
}
