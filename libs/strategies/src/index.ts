/**
 * @fulcrum/strategies — the optimizer's strategies (SPEC §5) behind one interface: a problem and a
 * profiler in, a plan and what it cost out. GMD, ALS and the baselines (oracle, MAXN, best
 * preset, random-k, PowerTrain-style, Bayesian optimisation).
 *
 * Main entry points:
 * - `Planner` (`solve` / `solveSync`), over a `ProfileBackend`: `fromDeviceBackend` wraps a
 *   @fulcrum/devices backend, `createModelBackend` builds one from two functions;
 * - `getStrategy(name)`, `strategyNames()`, `listStrategies()`, or the strategies themselves
 *   (`gmd`, `als`, `oracle`, …) with their options;
 * - the `Plan` (mode, batch sizes, the model's evaluation, verdict, cost) and `renderPlan`;
 *   safety margins (`marginsFor`: z·SE of each mode's measurements, `NO_MARGINS`) and re-measures
 *   (`Remeasure`).
 *
 * What a strategy is made of (objectives and scores, candidate fronts, profile caches, the
 * generator drivers, seeded randomness, the bench's key ranges) is in
 * `@fulcrum/strategies/internal`.
 */
export { Planner, Remeasure, marginsFor, renderPlan, zFor, DEFAULT_TARGET_PROBABILITY } from './strategy.js';
export type { Plan, PlanCost, PlannerOptions, Strategy } from './strategy.js';
export { NO_MARGINS } from './objective.js';
export type { SafetyMargins } from './objective.js';
export { getStrategy, listStrategies, strategyNames } from './registry.js';
export { oracle, oracleWithMargins, exhaustive, maxn, bestPreset, randomK } from './baselines.js';
export { als, DEFAULT_ALS_OPTIONS } from './als.js';
export type { AlsOptions } from './als.js';
export { gmd, DEFAULT_GMD_OPTIONS } from './gmd.js';
export type { GmdOptions } from './gmd.js';
export { powertrain } from './powertrain.js';
export { ALS_CONFIRM_OPTIONS, confirmed, DEFAULT_CONFIRM_OPTIONS } from './confirm.js';
export type { ConfirmOptions } from './confirm.js';
export { bayesianOptimisation, DEFAULT_BO_OPTIONS } from './bo.js';
export type { BoOptions } from './bo.js';
// Backends: where measurements come from.
export type { ProfileBackend } from './profiler.js';
export { ModeSpace } from './space.js';
export { MeasurementTable, measuredValueOf } from './table.js';
export type { MeasuredValue, ModeMeasurement, TableKey } from './table.js';
export { fromDeviceBackend } from './devices.js';
export type { DeviceAdapterOptions, DeviceProfileBackend } from './devices.js';
export { createModelBackend, profilingCostS, remeasureMinibatchesOf, DEFAULT_PROTOCOL } from './synthetic.js';
export type { MinibatchModel, ModelBackendOptions, ProfilingProtocol } from './synthetic.js';
