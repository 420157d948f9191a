import { ValidationError } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { bestPreset, exhaustive, maxn, oracle, oracleWithMargins, randomK } from './baselines.js';
import { als } from './als.js';
import { bayesianOptimisation } from './bo.js';
import { ALS_CONFIRM_OPTIONS, confirmed } from './confirm.js';
import { gmd } from './gmd.js';
import { powertrain } from './powertrain.js';
import type { Strategy } from './strategy.js';

const STRATEGIES: readonly Strategy[] = [
  // GMD and ALS choose among their profiled modes: they re-measure where a margin decides.
  confirmed(gmd()),
  confirmed(als(50), ALS_CONFIRM_OPTIONS),
  confirmed(als(100), ALS_CONFIRM_OPTIONS),
  confirmed(als(150), ALS_CONFIRM_OPTIONS),
  oracle,
  oracleWithMargins,
  exhaustive,
  maxn,
  bestPreset,
  randomK(15),
  randomK(50),
  randomK(150),
  powertrain(50),
  bayesianOptimisation(),
];

/** Other names a strategy answers to. */
const ALIASES: Readonly<Record<string, string>> = { als: 'als-100', random: 'random-15', powertrain: 'powertrain-50', bo: 'bo-15' };

export function strategyNames(): string[] {
  return STRATEGIES.map((s) => s.name);
}

export function listStrategies(): readonly Strategy[] {
  return STRATEGIES;
}

/** The strategy registered under `name` (or an alias); a ValidationError naming `field` otherwise. */
export function getStrategy(name: string, field = 'strategy'): Strategy {
  const resolved = ALIASES[name] ?? name;
  const s = STRATEGIES.find((x) => x.name === resolved);
  if (!s) throw new ValidationError(field, `unknown strategy ${describeValue(name)}; known strategies: ${[...strategyNames(), ...Object.keys(ALIASES)].join(', ')}`);
  return s;
}
