export { buildProgram, runCli } from './program.js';
export { CommandError, UsageError, asUsageError, positiveNumber, nonNegativeNumber, positiveInteger, oneOf, collect, commaList } from './usage.js';
export type { CliIo } from './io.js';
