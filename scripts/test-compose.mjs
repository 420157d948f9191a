#!/usr/bin/env node
// `npm run test:compose`: test/compose/*.e2e.ts (docker-compose.yml built and run through
// testcontainers). Needs a reachable Docker engine with the compose v2 plugin; without one it
// says so and fails, rather than passing having tested nothing.
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
    'The compose test builds deploy/Dockerfile and runs docker-compose.yml; run it where a Docker engine runs (DOCKER_HOST is honoured). It is not part of npm test.');
}
const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
if (compose.status !== 0) fail('the docker compose v2 plugin is missing (docker compose version failed); testcontainers drives compose through it.');

const files = globSync(['test/compose/*.e2e.ts'], { cwd: root }).sort();
const result = spawnSync(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', '--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
