#!/usr/bin/env node
// `npm run test:compose`: test/compose/*.e2e.ts through testcontainers, one file after the other:
// compose.e2e.ts (docker-compose.yml, one host) and fleet.e2e.ts (deploy/compose/fleet.yml, a NATS
// hub and two boards), each building deploy/Dockerfile. `npm run test:compose -- fleet` runs the
// files whose name holds `fleet`; arguments starting with `-` go to node --test (as --name=value).
// Needs a reachable Docker engine with the compose v2 plugin; without one it says so and fails,
// rather than passing having tested nothing. Not part of npm test.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { globSync } from 'tinyglobby';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fail = (message) => {
  console.error(`test:compose: ${message}`);
  process.exit(1);
};

const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
if (info.error) fail(`the docker client is not installed (${info.error.message}); the compose test needs Docker with the compose v2 plugin.`);
if (info.status !== 0) {
  fail(`no Docker engine is reachable (docker info: ${(info.stderr || info.stdout).trim().split('\n').pop()}).\n` +
    'The compose tests build deploy/Dockerfile and run docker-compose.yml and deploy/compose/fleet.yml; run them where a Docker engine runs (DOCKER_HOST is honoured). They are not part of npm test.');
}
const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
if (compose.status !== 0) fail('the docker compose v2 plugin is missing (docker compose version failed); testcontainers drives compose through it.');

const args = process.argv.slice(2);
const wanted = args.filter((a) => !a.startsWith('-'));
const all = globSync(['test/compose/*.e2e.ts'], { cwd: root }).sort();
const files = wanted.length === 0 ? all : all.filter((f) => wanted.some((w) => f.includes(w)));
if (files.length === 0) fail(`no test/compose/*.e2e.ts matches ${wanted.join(', ')} (there are: ${all.join(', ')})`);
// One compose project at a time: each builds the same image and runs a whole stack.
const result = spawnSync(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...args.filter((a) => a.startsWith('-')), ...files], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
