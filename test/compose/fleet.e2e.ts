// deploy/compose/fleet.yml for real (testcontainers, issue 15): the test CA and hub certificate from
// the `certs` one-shot, the NATS hub, two boards (a leaf server dialling the hub over TLS, a
// controller, an executor and a profiler each, on a virtual Orin AGX) and the optimizer, every
// long-running container healthy. Then from this host: `fulcrum boards --remote` lists board-1 and
// board-2 (their executors' announcements crossed the leaf links); `fulcrum solve --board board-1`
// profiles on board-1 and applies there; `--board board-2` (same model and stack) profiles nothing
// and applies on board-2; each board's event stream reaches the hub's JetStream. Not in the default
// suite (its name is not *.test.ts): it needs a Docker engine with the compose v2 plugin. Run it
// with `npm run test:compose` (`-- fleet` for this file alone).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import { cli, requireDockerCompose, upCompose } from './support.js';

const TOKEN = 'fleet-test-token-0123';
const BOARDS = ['board-1', 'board-2'];
const SERVICES = ['hub', 'optimizer', ...[1, 2].flatMap((n) => [`nats-board-${n}`, `controller-${n}`, `executor-${n}`, `profiler-${n}`])];
// Not the compose defaults: the overrides must reach both ends (servers and services, hub and leaves).
const PASSWORDS = Object.fromEntries(
  ['CONTROLLER', 'EXECUTOR', 'PROFILER', 'OPTIMIZER', 'BOARD', 'CLIENT', 'LEAF_PASS_BOARD_1', 'LEAF_PASS_BOARD_2'].map((role) => [
    role.startsWith('LEAF') ? `FULCRUM_NATS_${role}` : `FULCRUM_NATS_${role}_PASS`,
    `pw-fleet-test-${role.toLowerCase().replaceAll('_', '-')}`,
  ]),
);
const PROBLEM = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '30', '--latency', '0.5', '--power', '25', '--json'];

interface ListedBoard {
  board: string;
  device: string;
  softwareStack: string;
  executorAddress: string | null;
  planId: string | null;
  state: string;
}

describe('deploy/compose/fleet.yml', { timeout: 25 * 60_000 }, () => {
  let env: StartedDockerComposeEnvironment | undefined;
  let optimizer: string;

  const boards = async (): Promise<ListedBoard[]> => {
    const r = await cli('boards', '--remote', optimizer, '--token', TOKEN, '--json');
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { boards: ListedBoard[] }).boards;
  };
  /** GET on the hub's monitoring port, from inside its container (it is not published). */
  const hubMonitor = async (path: string): Promise<string> => {
    const r = await env!.getContainer('hub-1').exec(['wget', '-q', '-O-', `http://127.0.0.1:8222${path}`]);
    assert.equal(r.exitCode, 0, r.output);
    return r.stdout;
  };

  before(async () => {
    requireDockerCompose();
    ({ env, optimizer } = await upCompose('deploy/compose/fleet.yml', 'fulcrum-fleet-test', { FULCRUM_TOKEN: TOKEN, ...PASSWORDS }, SERVICES));
  });

  after(async () => {
    await env?.down({ removeVolumes: true, timeout: 30_000 });
  });

  it('runs the hub, both boards and the optimizer, each healthy; both leaf servers linked to the hub', async () => {
    for (const s of SERVICES) assert.ok(env!.getContainer(`${s}-1`), s);
    let leafnodes = 0;
    for (let i = 0; i < 60 && leafnodes < 2; i++) {
      leafnodes = (JSON.parse(await hubMonitor('/leafz')) as { leafnodes: number }).leafnodes;
      if (leafnodes < 2) await sleep(500);
    }
    assert.equal(leafnodes, 2, 'nats-board-1 and nats-board-2 dialled the hub (TLS against the test CA)');
  });

  it('fulcrum boards --remote lists board-1 and board-2, each with the executor address it advertises', async () => {
    // Executors announce every 10 s; the optimizer may have started after their first ones.
    let listed: ListedBoard[] = [];
    for (let i = 0; i < 60 && listed.length < 2; i++) {
      listed = await boards();
      if (listed.length < 2) await sleep(1000);
    }
    assert.deepEqual(listed.map((b) => b.board).sort(), BOARDS);
    for (const b of listed) {
      assert.equal(b.device, 'orin-agx');
      assert.equal(b.executorAddress, `executor-${b.board.slice('board-'.length)}:50052`);
    }
    assert.equal(listed[0]!.softwareStack, listed[1]!.softwareStack, 'one model, one software stack');
    const table = await cli('boards', '--remote', optimizer, '--token', TOKEN);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /board-2 +│ orin-agx/);
    const anonymous = await cli('boards', '--remote', optimizer);
    assert.equal(anonymous.code, 1, 'the token is required');
  });

  it('solves for board-1 (profiled on board-1), then board-2 with nothing profiled; each plan runs on its own board', async () => {
    const first = await cli('solve', '--remote', optimizer, '--token', TOKEN, '--board', 'board-1', ...PROBLEM);
    assert.equal(first.code, 0, first.stderr);
    const one = JSON.parse(first.stdout);
    assert.equal(one.plan.feasible, true);
    assert.ok(one.cost.modesProfiled >= 1 && one.cost.modesProfiled <= 15, `modes profiled: ${one.cost.modesProfiled}`);

    const second = await cli('solve', '--remote', optimizer, '--token', TOKEN, '--board', 'board-2', ...PROBLEM);
    assert.equal(second.code, 0, second.stderr);
    const two = JSON.parse(second.stdout);
    assert.equal(two.plan.feasible, true);
    assert.equal(two.cost.modesProfiled, 0, 'board-2, same model and stack: board-1 profiles answer it');

    const want: Record<string, string> = { 'board-1': one.plan.planId, 'board-2': two.plan.planId };
    let listed: ListedBoard[] = [];
    for (let i = 0; i < 30; i++) {
      listed = await boards();
      if (listed.every((b) => b.planId === want[b.board])) break;
      await sleep(500);
    }
    for (const b of listed) assert.equal(b.planId, want[b.board], `${b.board} runs its own plan`);
  });

  it("each board's event stream reaches the hub's JetStream (domain hub)", async () => {
    const want = BOARDS.map((b) => `FULCRUM_EVENTS_${b}`);
    let names: string[] = [];
    for (let i = 0; i < 60; i++) {
      const jsz = JSON.parse(await hubMonitor('/jsz?streams=true')) as { account_details?: { stream_detail?: { name: string }[] }[] };
      names = (jsz.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).map((s) => s.name));
      if (want.every((n) => names.includes(n))) break;
      await sleep(500);
    }
    for (const n of want) assert.ok(names.includes(n), `${n} on the hub (has: ${names.join(', ') || 'none'})`);
  });
});
