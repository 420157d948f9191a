/**
 * @fulcrum/bench/internal — the public face plus the bench's parts, for the CLI and tests: the
 * per-key engine (`runKey`), the sweep's table keys and configurations, the backend opener and
 * the progress bar.
 */
export * from './index.js';
export type { KeyTask } from './bench.js';
export { runKey } from './engine.js';
export { openBackend } from './backend-spec.js';
export { sweepKeyOf, configurations, configsPerKey } from './sweep.js';
export { createProgress } from './progress.js';
export type { Progress } from './progress.js';
