// docker-compose.yml for real (testcontainers): the image built from deploy/Dockerfile, NATS with
// JetStream and the four services on the compose network, healthy; then `fulcrum solve --remote`
// from this host against the published optimizer: a GMD plan, and the same problem again with
// nothing profiled. Not in the default suite (its name is not *.test.ts): it needs a Docker engine
// with the compose v2 plugin. Run it with `npm run test:compose`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import { cli, requireDockerCompose, upCompose } from './support.js';

const TOKEN = 'compose-test-token-0123';
const SERVICES = ['nats', 'device-controller', 'executor', 'profiler', 'optimizer'];

describe('docker-compose.yml', { timeout: 20 * 60_000 }, () => {
  let env: StartedDockerComposeEnvironment | undefined;
  let optimizer: string;

  before(async () => {
    requireDockerCompose();
    ({ env, optimizer } = await upCompose('docker-compose.yml', 'fulcrum-test', { FULCRUM_TOKEN: TOKEN }, SERVICES));
  });

  after(async () => {
    await env?.down({ removeVolumes: true, timeout: 30_000 });
  });

  it('runs NATS and the four services, each healthy', () => {
    for (const s of SERVICES) assert.ok(env!.getContainer(`${s}-1`), s);
  });

  it('solves from this host with fulcrum solve --remote, then the same problem with nothing profiled', async () => {
    const problem = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '30', '--latency', '0.5', '--power', '25', '--json'];
    const first = await cli('solve', '--remote', optimizer, '--token', TOKEN, ...problem);
    assert.equal(first.code, 0, first.stderr);
    const plan = JSON.parse(first.stdout);
    assert.equal(plan.plan.feasible, true);
    assert.ok(plan.cost.modesProfiled >= 3 && plan.cost.modesProfiled <= 15);
    const again = await cli('solve', '--remote', optimizer, '--token', TOKEN, ...problem);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).cost.modesProfiled, 0);
    const anonymous = await cli('solve', '--remote', optimizer, ...problem);
    assert.equal(anonymous.code, 1, 'the token is required');
  });
});
