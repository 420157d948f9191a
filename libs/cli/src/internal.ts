/**
 * @fulcrum/cli/internal — the public face plus the CLI's errors (`CommandError`, `UsageError`)
 * and the flag value parsers the commands share.
 */
export * from './index.js';
export { CommandError, UsageError, asUsageError, positiveNumber, nonNegativeNumber, positiveInteger, oneOf, collect, commaList } from './usage.js';
