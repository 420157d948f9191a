/**
 * @fulcrum/strategies/internal — the public face plus what strategies are made of, for the
 * optimizer service, the bench, the CLI and tests: table keys, objectives and mode scores,
 * candidate fronts, profile caches, the drivers of the strategies' generators, ALS's profiled
 * front, seeded randomness, and the bench's key ranges.
 */
export * from './index.js';
export { KNOB_COUNT } from './space.js';
export { tableKeyOf, tableKeyText, StandardErrors } from './table.js';
export { Objective, ModeScore, scoreMode, scoreAssignment, bestAmong, better, modeMargins } from './objective.js';
export { CandidateFront, paretoFilter } from './front.js';
export { ProfileCache, BackendCaches } from './profiler.js';
export { ChargeSheet, driveSync, drive } from './strategy.js';
export type { PreparedHandle, PreparedStrategy, ProfileRequest, Profiling, StrategyContext } from './strategy.js';
export { ProfiledFront } from './als.js';
export { createRng, seedFrom, sample } from './rng.js';
export type { Rng } from './rng.js';
export { keyRanges, problemOf } from './ranges.js';
export type { ConfigNumbers, KeyRanges } from './ranges.js';
