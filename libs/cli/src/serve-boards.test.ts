// Two boards of one model on one NATS server (issue 15, 1–2): `serve all` as board-a with the
// optimizer, and a second controller + executor as board-b. Both announce themselves; `fulcrum
// boards` lists them; `fulcrum solve --remote … --board board-b` plans for board-b (its model by
// default) and applies there, not on board-a; a second board of the same model and stack gets its
// plan with nothing profiled; an unknown board is refused naming the known ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { deviceControllerServiceConfig, startDeviceControllerService, type DeviceControllerService } from '@fulcrum/device-controller';
import { executorServiceConfig, startExecutorService, type ExecutorService } from '@fulcrum/executor';
import { pino } from 'pino';
import type { RunningServices } from './stack.js';
import { cli, startLocalServices } from './test-support.js';

const quiet = pino({ level: 'silent' });
const PROBLEM = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '20', '--latency', '0.5', '--power', '30'];

describe('boards: two boards of one model on one NATS server', () => {
  let dir: string;
  let nats: NatsServer;
  let a: RunningServices;
  let ctlB: DeviceControllerService;
  let execB: ExecutorService;
  let opt: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-boards-'));
    nats = await startNatsServer();
    a = await startLocalServices([`--nats.url=${nats.url}`, '--board=board-a', '--executor.time-scale=50'], dir);
    opt = a.optimizer!.address;
    ctlB = await startDeviceControllerService(deviceControllerServiceConfig({ board: 'board-b', grpc: { port: 0 }, metrics: { port: -1 }, nats: { url: nats.url } }), { logger: quiet });
    execB = await startExecutorService(
      executorServiceConfig({ board: 'board-b', grpc: { port: 0 }, metrics: { port: -1 }, timeScale: 50, controller: { address: ctlB.address }, nats: { url: nats.url } }),
      { logger: quiet },
    );
  });
  after(async () => {
    await execB?.close(100);
    await ctlB?.close(100);
    await a?.close(0);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists both boards, plans for board-b by id and applies there; the second board of the model profiles nothing', async () => {
    // Both announce at start and again after 1 s and 3 s (board-a's first went out before its optimizer listened).
    let listed: { board: string; device: string; executorAddress: string | null; state: string }[] = [];
    for (let i = 0; i < 200 && listed.length < 2; i++) {
      const r = await cli('boards', '--remote', opt, '--json');
      assert.equal(r.code, 0, r.stderr);
      listed = JSON.parse(r.stdout).boards;
      if (listed.length < 2) await sleep(50);
    }
    assert.deepEqual(listed.map((b) => b.board).sort(), ['board-a', 'board-b']);
    assert.ok(listed.every((b) => b.device === 'orin-agx' && b.state === 'idle'));
    assert.equal(listed.find((b) => b.board === 'board-b')!.executorAddress, execB.address);
    const table = await cli('boards', '--remote', opt);
    assert.match(table.stdout, /board-b +│ orin-agx/);

    // board-a first: it profiles.
    const first = await cli('solve', '--remote', opt, '--board', 'board-a', ...PROBLEM, '--json');
    assert.equal(first.code, 0, first.stderr);
    assert.ok(JSON.parse(first.stdout).cost.modesProfiled >= 1);
    // board-b, same model and stack: zero new profiling, and the plan runs on board-b.
    const second = await cli('solve', '--remote', opt, '--board', 'board-b', ...PROBLEM, '--json');
    assert.equal(second.code, 0, second.stderr);
    const out = JSON.parse(second.stdout);
    assert.equal(out.cost.modesProfiled, 0, 'a second board of the same model and stack profiles nothing');
    const planB = out.plan.planId as string;
    assert.deepEqual(out.board, { id: 'board-b', applied: true });
    for (let i = 0; i < 200 && execB.node.status().applied?.plan.planId !== planB; i++) await sleep(20);
    assert.equal(execB.node.status().applied?.plan.planId, planB, 'the plan runs on board-b');
    assert.notEqual(a.executor!.node.status().applied?.plan.planId, planB, 'not on board-a');
    const after = JSON.parse((await cli('boards', '--remote', opt, '--json')).stdout).boards as { board: string; planId: string | null }[];
    assert.equal(after.find((b) => b.board === 'board-b')!.planId, planB);

    // A re-plan of board-b's plan, naming no board, goes to board-b (it went to the configured
    // executor, board-a's, replacing board-a's job).
    const optimizer = a.optimizer!.optimizer;
    const planA = a.executor!.node.status().applied?.plan.planId;
    const record = optimizer.plans.get(planB)!;
    // A budget under the running plan's power moves the plan.
    const replanned = await optimizer.replan({ problem: { ...record.problem, powerBudgetW: record.plan.predicted.powerW * 0.9 }, previousPlanId: planB, apply: true, allowProfiling: true });
    assert.equal(replanned.changed, true, 'a lower budget moves the plan');
    assert.equal(replanned.plan.feasible, true, replanned.plan.verdict);
    assert.equal(replanned.applied, true);
    for (let i = 0; i < 200 && execB.node.status().applied?.plan.planId !== replanned.plan.planId; i++) await sleep(20);
    assert.equal(execB.node.status().applied?.plan.planId, replanned.plan.planId, 'the successor runs on board-b');
    assert.equal(a.executor!.node.status().applied?.plan.planId, planA, 'board-a keeps its plan');

    const unknown = await cli('solve', '--remote', opt, '--board', 'board-z', ...PROBLEM);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /board "board-z" has not announced itself to this optimizer .*known boards: board-(a|b), board-(a|b)/);
    // The token from the environment is used, and never printed by --help.
    const saved = process.env['FULCRUM_TOKEN'];
    process.env['FULCRUM_TOKEN'] = 'env-token-never-shown';
    try {
      for (const command of ['boards', 'top', 'solve']) {
        const help = await cli(command, '--help');
        assert.match(help.stdout, /env:\s+FULCRUM_TOKEN/, command);
        assert.doesNotMatch(help.stdout, /env-token-never-shown/, command);
      }
    } finally {
      if (saved === undefined) delete process.env['FULCRUM_TOKEN'];
      else process.env['FULCRUM_TOKEN'] = saved;
    }
    const bad = await cli('solve', '--remote', opt, '--board', 'lab.z', ...PROBLEM);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--board: a board id is/);

    // board-b's executor gone: its last announcement (state `stopped`) reaches `fulcrum boards`,
    // the plan is not applied there, and the answer says so.
    await execB.close(100);
    let listedB: { state: string; planId: string | null } | undefined;
    for (let i = 0; i < 100 && listedB?.state !== 'stopped'; i++) {
      if (i > 0) await sleep(20);
      listedB = (JSON.parse((await cli('boards', '--remote', opt, '--json')).stdout).boards as { board: string; state: string; planId: string | null }[]).find((b) => b.board === 'board-b');
    }
    assert.equal(listedB?.state, 'stopped', 'fulcrum boards lists a board whose executor stopped as stopped');
    assert.ok(!listedB?.planId, `a stopped board runs no plan, got ${String(listedB?.planId)}`);
    const gone = await cli('solve', '--remote', opt, '--board', 'board-b', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '13', '--latency', '0.5', '--power', '25', '--json');
    assert.equal(JSON.parse(gone.stdout).board.applied, false, gone.stderr);
    assert.match(gone.stderr, /the plan was not applied on board board-b/);
    // A re-plan of the stopped board's plan goes to that board (and fails there), never to board-a's executor.
    const lastOnB = optimizer.runningPlan('board-b')!;
    const lastRecord = optimizer.plans.get(lastOnB)!;
    const onA = a.executor!.node.status().applied?.plan.planId;
    const again = await optimizer.replan({ problem: { ...lastRecord.problem, powerBudgetW: lastRecord.plan.predicted.powerW * 0.9 }, previousPlanId: lastOnB, allowProfiling: true, apply: true });
    assert.equal(again.changed, true, 'a lower budget moves the plan');
    assert.equal(again.applied, false);
    assert.equal(a.executor!.node.status().applied?.plan.planId, onA, "board-a still runs its own plan");
  });
});
