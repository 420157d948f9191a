/**
 * @fulcrum/cli — the `fulcrum` command line (solve, bench, device, profiles, simulate, serve,
 * demo, …) as a library.
 *
 * Main entry points: `runCli(argv, io?)` runs one command and returns its exit code (0 done, 2 bad
 * input, 1 anything else), writing to a `CliIo` (the process's stdout and stderr by default);
 * `buildProgram(io?)` is the commander command tree.
 *
 * The flag parsers and the CLI's errors are in `@fulcrum/cli/internal`.
 */
export { buildProgram, runCli } from './program.js';
export type { CliIo } from './io.js';
