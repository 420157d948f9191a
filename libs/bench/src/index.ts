// @fulcrum/bench — sweeps of problem configurations, strategies scored against the oracle on the
// noise-free ground truth (SPEC §7): summary table, JSON and plots.
export { runBench } from './bench.js';
export { runKey } from './engine.js';
export { openBackend } from './backend-spec.js';
export { SWEEP_NAMES, sweepDefinition, keyOf, keyRanges, configurations, configsPerKey, problemOf } from './sweep.js';
export { summarize, formatSummary, benchJson, writePlots } from './report.js';
export { createProgress } from './progress.js';

export type { BenchOptions, BenchRun, KeyTask } from './bench.js';
export type { KeyResult, StrategyColumns } from './engine.js';
export type { BackendSpec } from './backend-spec.js';
export type { SweepName, SweepDefinition, SweepPart, KeySpec, KeyRanges, ConfigNumbers } from './sweep.js';
export type { StrategySummary, BenchSummary } from './report.js';
export type { Progress } from './progress.js';
