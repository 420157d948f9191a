// `fulcrum serve all` on one NATS connection as user `board` of deploy/nats/nats-server.conf
// (issue 14, 3): that role's subject permissions are enough for all four services — JetStream KV
// profiles, durable profile events, plans applied — and a Solve through them works.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import type { RunningServices } from './stack.js';
import { cli, startLocalServices } from './test-support.js';

const CONF = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'nats', 'nats-server.conf');
const PASS = 'pw-board-test';

describe('fulcrum serve all as NATS user board', () => {
  let dir: string;
  let nats: NatsServer;
  let running: RunningServices;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-serve-board-'));
    const env = Object.fromEntries(['CONTROLLER', 'EXECUTOR', 'PROFILER', 'OPTIMIZER', 'BOARD', 'CLIENT'].map((r) => [`FULCRUM_NATS_${r}_PASS`, r === 'BOARD' ? PASS : `pw-unused-${r}`]));
    nats = await startNatsServer({ args: ['-c', CONF], env });
  });
  after(async () => {
    await running?.close(0);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('solves with the profiles in JetStream KV; a wrong password is refused at start', async () => {
    await assert.rejects(startLocalServices([`--nats.url=${nats.url}`, '--nats.user=board', '--nats.pass=wrong'], dir), /Authorization Violation|authorization/i);
    running = await startLocalServices([`--nats.url=${nats.url}`, '--nats.user=board', `--nats.pass=${PASS}`, '--profiler.store.backend=kv'], dir);
    const problem = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '20', '--latency', '0.5', '--power', '30'];
    const first = await cli('solve', '--remote', running.optimizer!.address, ...problem, '--json');
    assert.equal(first.code, 0, first.stderr);
    assert.ok(JSON.parse(first.stdout).cost.modesProfiled >= 1);
    const again = await cli('solve', '--remote', running.optimizer!.address, ...problem);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /cost: 0 modes profiled/);
  });
});
