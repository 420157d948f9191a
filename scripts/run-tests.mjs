#!/usr/bin/env node
// Runs every *.test.ts beside the code (libs, services) and the cross-service tests in test/,
// through node:test with tsx; workspace packages resolve to their TypeScript sources.
// Extra arguments go to node --test (e.g. --test-name-pattern). Node 20 does not expand `**`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { globSync } from 'tinyglobby';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const explicit = args.filter((a) => a.endsWith('.ts'));
const options = args.filter((a) => !a.endsWith('.ts'));
const files = explicit.length
  ? explicit
  : globSync(['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'], {
      cwd: root,
      ignore: ['**/node_modules/**', '**/dist/**'],
    }).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  // A hung test fails after 5 minutes instead of holding CI; the slowest test takes about 30 s.
  // Three test files at a time: the host has 2 cores, but the longest files (the fleet on network
  // namespaces, the e2e and fuzz runs) mostly wait on the network, timers and child processes.
  ['--conditions=@fulcrum/source', '--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', '--test-concurrency=3', ...options, ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
