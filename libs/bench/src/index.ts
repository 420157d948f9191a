/**
 * @fulcrum/bench — sweeps of problem configurations, strategies scored against the oracle on the
 * noise-free ground truth (SPEC §7): summary table, JSON and plots.
 *
 * Main entry points: `runBench({ sweep, strategies, backend, … })` (sweeps `SWEEP_NAMES`,
 * `sweepDefinition`; backends `BackendSpec`), then `summarize`, `formatSummary`, `benchJson` and
 * `writePlots` on its run.
 *
 * The per-key engine, the sweep's key and configuration enumeration, the backend opener and the
 * progress bar are in `@fulcrum/bench/internal`.
 */
export { runBench, tableSweepWorkloads } from './bench.js';
export type { BenchOptions, BenchRun } from './bench.js';
export type { KeyResult, StrategyColumns } from './engine.js';
export type { BackendSpec } from './backend-spec.js';
export { SWEEP_NAMES, sweepDefinition } from './sweep.js';
export type { SweepName, SweepDefinition, SweepPart, KeySpec, SweepWorkloads } from './sweep.js';
export { summarize, formatSummary, benchJson, writePlots, summarizeAcross, formatAcross } from './report.js';
export type { AcrossSummary } from './report.js';
export type { StrategySummary, BenchSummary } from './report.js';
