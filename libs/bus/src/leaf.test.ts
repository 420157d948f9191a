// A board's leaf server with its own JetStream domain, and a hub the optimizer reads from (issue
// 15): followBoard mirrors the board's stream into the hub's domain, and what the board stores
// while the hub is gone arrives after the hub is back, in order, none lost. Real nats-servers on
// loopback (the multi-host version with netem and TLS is test/e2e/fleet-netns.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { silentLogger, waitFor } from './bus.suite.js';
import { connectNatsBus } from './nats.js';
import { arrivalsRateSubject, boardAnnounceSubject, boardStreamName, planAppliedSubject } from './subjects.js';
import { freeLoopbackPort, startNatsServer } from './testing/nats-server.js';
import type { BoardEventMessage } from './types.js';

describe('a board on a leaf server, read from the hub', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  test('followBoard mirrors the board\'s stream from its domain; events stored while the hub is down arrive after it restarts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-leaf-'));
    dirs.push(dir);
    const board = `b${process.pid}`;
    const [leafPort, hubPort, boardPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
    await writeFile(join(dir, 'hub.conf'), `host: 127.0.0.1\nport: ${hubPort}\njetstream { domain: hub }\nleafnodes { host: 127.0.0.1, port: ${leafPort} }\n`);
    await writeFile(join(dir, 'board.conf'), `host: 127.0.0.1\nport: ${boardPort}\nserver_name: ${board}\njetstream { domain: ${board} }\nleafnodes { reconnect: 1, remotes = [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ] }\n`);
    const hub = await startNatsServer({ configFile: join(dir, 'hub.conf'), storeDir: join(dir, 'hub-js') });
    t.after(() => hub.stop());
    const leaf = await startNatsServer({ configFile: join(dir, 'board.conf'), storeDir: join(dir, 'board-js') });
    t.after(() => leaf.stop());

    const boardBus = await connectNatsBus({ url: leaf.url, logger: silentLogger });
    t.after(() => boardBus.close());
    const hubBus = await connectNatsBus({ url: hub.url, reconnectTimeWaitMs: 100, logger: silentLogger });
    t.after(() => hubBus.close());
    assert.deepEqual(await boardBus.jetStream(), { domain: board });
    assert.deepEqual(await hubBus.jetStream(), { domain: 'hub' });

    const now = (): string => new Date().toISOString();
    const rates = (r: number) => ({ measuredAt: now(), windowS: 10, planId: 'p1', streams: [{ stream: 'cam', arrivalRatePerS: r }] });
    await boardBus.publish(boardAnnounceSubject(board), { measuredAt: now(), device: 'orin-agx', softwareStack: 'jp6', executorAddress: '127.0.0.1:1', state: 'running', jsDomain: board });
    await boardBus.publish(planAppliedSubject(board), { planId: 'p1', appliedAt: now(), mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, streams: [] });
    await boardBus.publish(arrivalsRateSubject(board), rates(1));

    const got: BoardEventMessage[] = [];
    const follow = hubBus.followBoard(board, (m) => void got.push(m), { domain: board, from: 'all' });
    await follow.ready;
    await waitFor('the board\'s first three events through the mirror', () => got.length === 3, 15_000);
    assert.deepEqual(got.map((m) => [m.kind, m.sequence]), [['board.announce', 1], ['plan.applied', 2], ['arrivals.rate', 3]]);

    // The hub holds a mirror of the board's stream, pulled from the board's domain.
    const nc = await connect({ servers: hub.url });
    t.after(() => nc.close());
    const info = await (await jetstreamManager(nc)).streams.info(boardStreamName(board));
    assert.equal(info.config.mirror?.external?.api, `$JS.${board}.API`);
    assert.deepEqual(info.config.subjects ?? [], []);
    await nc.close();

    // The hub goes away (the link with it); the board keeps storing.
    await hub.kill();
    for (let r = 2; r <= 6; r++) assert.equal((await boardBus.publish(arrivalsRateSubject(board), rates(r))).durable, true);
    const healedAt = performance.now();
    await hub.restart();
    await waitFor('the five events stored while the hub was down', () => got.length === 8, 30_000);
    const caughtUpS = (performance.now() - healedAt) / 1000;
    assert.deepEqual(got.slice(3).map((m) => [m.sequence, m.kind === 'arrivals.rate' ? m.event.streams[0]!.arrivalRatePerS : -1]), [[4, 2], [5, 3], [6, 4], [7, 5], [8, 6]]);
    assert.equal(got.at(-1)!.pending, 0);
    console.log(`# leaf → hub: 5 events stored on the board while the hub was down, 5 reached the hub ${caughtUpS.toFixed(1)} s after its restart`);
    follow.unsubscribe();
    await follow.closed;
  });
});
