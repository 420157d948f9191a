// One hub user per board (deploy/nats/hub-users.sh): each board's leaf server logs in to the hub
// as the board's own user, which passes the hub only that board's subjects. Real nats-servers on
// loopback: a hub with the generated users (and the roles the shipped hub.conf includes) and two
// board leaves, each with its own JetStream domain. Checks that what a fleet needs still flows —
// each board's announcement and events reach the hub, the hub mirrors each board's stream from its
// domain, inference requests from the hub reach the board and come back — and that what a board
// must not do is stopped at the hub: announcing or publishing for the other board, JetStream
// requests to the hub's domain, and hearing the hub's traffic for the other board. The TLS,
// multi-host version of the fleet runs the same hub.conf in test/e2e/fleet-netns.test.ts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { silentLogger, waitFor } from './bus.suite.js';
import { connectNatsBus } from './nats.js';
import { EVENT_KINDS, arrivalsRateSubject, boardAnnounceSubject, inferFilter, inferSubject } from './subjects.js';
import { freeLoopbackPort, startNatsServer } from './testing/nats-server.js';
import type { BoardEventMessage } from './types.js';

const NATS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/nats');
const SCRIPT = join(NATS_DIR, 'hub-users.sh');

const passVar = (board: string): string => `FULCRUM_NATS_LEAF_PASS_${board.toUpperCase().replaceAll('-', '_')}`;

describe('one hub user per board (deploy/nats/hub-users.sh)', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  test('the shipped hub-users.conf is the script\'s output for the compose fleet (board-1, board-2)', async () => {
    const out = execFileSync('sh', [SCRIPT, 'board-1', 'board-2']).toString();
    assert.equal(await readFile(join(NATS_DIR, 'hub-users.conf'), 'utf8'), out, 'regenerate it: sh deploy/nats/hub-users.sh board-1 board-2 > deploy/nats/hub-users.conf');
  });

  test('a board\'s user may publish each event kind\'s subject literally (EVENT_KINDS), so the hub\'s fulcrum.*.<kind> interest crosses its link', () => {
    const out = execFileSync('sh', [SCRIPT, 'jetson-01']).toString();
    const publish = /publish: \[(.*)\]/.exec(out)?.[1] ?? '';
    for (const kind of EVENT_KINDS) assert.ok(publish.includes(`"fulcrum.jetson-01.${kind}"`), `${kind} missing from ${publish}`);
  });

  test('the script refuses no board, a board id that is not a token and two ids that share a password variable (exit 2, naming it)', () => {
    for (const [args, message] of [
      [[], /usage: hub-users\.sh BOARD/],
      [['jetson-01', 'a.b'], /board id 'a\.b' is not a token/],
      [['jetson-01', '-x'], /board id '-x' is not a token/],
      [['board-1', 'BOARD_1'], /board id 'BOARD_1' repeats another .*FULCRUM_NATS_LEAF_PASS_BOARD_1/],
    ] as const) {
      const r = spawnSync('sh', [SCRIPT, ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}`);
      assert.match(r.stderr.toString(), message);
      assert.equal(r.stdout.toString(), '', 'nothing half-written');
    }
  });

  test('each board\'s leaf passes the hub its own board\'s traffic only; mirrors and inference still work', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-leaf-auth-'));
    dirs.push(dir);
    const boards = [`a-${process.pid}`, `b-${process.pid}`] as const;
    const pass = Object.fromEntries(boards.map((b, i) => [passVar(b), `pw-leaf-${i}`]));
    const env = { ...pass, FULCRUM_NATS_OPTIMIZER_PASS: 'pw-optimizer', FULCRUM_NATS_CLIENT_PASS: 'pw-client' };
    // The hub: the shipped roles and the generated users, on free loopback ports (hub.conf itself
    // fixes its ports and wants TLS on the leafnode port; fleet-netns runs it whole).
    await mkdir(join(dir, 'roles'));
    for (const f of await readdir(join(NATS_DIR, 'roles'))) await copyFile(join(NATS_DIR, 'roles', f), join(dir, 'roles', f));
    await writeFile(join(dir, 'hub-users.conf'), execFileSync('sh', [SCRIPT, ...boards]));
    const [hubPort, leafPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    await writeFile(
      join(dir, 'hub.conf'),
      `host: 127.0.0.1\nport: ${hubPort}\njetstream { domain: hub }\nleafnodes { host: 127.0.0.1, port: ${leafPort} }\n` +
        `include ./hub-users.conf\n`,
    );
    const hub = await startNatsServer({ configFile: join(dir, 'hub.conf'), storeDir: join(dir, 'hub-js'), env });
    t.after(() => hub.stop());
    const leaves = [];
    for (const b of boards) {
      const port = await freeLoopbackPort();
      await writeFile(join(dir, `${b}.conf`), `host: 127.0.0.1\nport: ${port}\nserver_name: ${b}\njetstream { domain: ${b} }\nleafnodes { reconnect: 1, remotes = [ { url: "nats-leaf://${b}:${pass[passVar(b)]}@127.0.0.1:${leafPort}" } ] }\n`);
      const leaf = await startNatsServer({ configFile: join(dir, `${b}.conf`), storeDir: join(dir, `${b}-js`) });
      t.after(() => leaf.stop());
      leaves.push(leaf);
    }
    // A board's leaf password is for leaf connections only.
    await assert.rejects(connect({ servers: hub.url, user: boards[0], pass: pass[passVar(boards[0])], maxReconnectAttempts: 0 }), /Authorization/i);

    const hubBus = await connectNatsBus({ url: hub.url, user: 'optimizer', pass: 'pw-optimizer', reconnectTimeWaitMs: 100, logger: silentLogger });
    t.after(() => hubBus.close());
    // The hub's client, its replies under an inbox prefix that board a's spy (below) listens for.
    const client = await connect({ servers: hub.url, user: 'client', pass: 'pw-client', inboxPrefix: '_INBOX.hub' });
    t.after(() => client.close());
    const heard: string[] = [];
    client.subscribe('fulcrum.*.board.announce', { callback: (_e, m) => void heard.push(m.subject) });
    client.subscribe('fulcrum.*.arrivals.rate', { callback: (_e, m) => void heard.push(m.subject) });
    await client.flush();
    const buses = await Promise.all(leaves.map((l) => connectNatsBus({ url: l.url, logger: silentLogger })));
    t.after(() => Promise.all(buses.map((b) => b.close())));
    // Each leaf's link is up once the hub hears the board's announcement (interest crosses a new link in a moment).
    const announce = (i: number, address: string) =>
      buses[i]!.publish(boardAnnounceSubject(boards[i]!), { measuredAt: new Date().toISOString(), device: 'orin-agx', softwareStack: 'jp6', executorAddress: address, state: 'running', jsDomain: boards[i]! });
    for (let i = 0; i < 2; i++) {
      for (let tries = 0; !heard.includes(`fulcrum.${boards[i]}.board.announce`); tries++) {
        assert.ok(tries < 100, `board ${boards[i]}'s announcement did not reach the hub in 10 s`);
        await announce(i, `10.0.0.${i + 1}:50052`);
        await sleep(100);
      }
      await buses[i]!.publish(arrivalsRateSubject(boards[i]!), { measuredAt: new Date().toISOString(), windowS: 10, planId: 'p1', streams: [{ stream: 'cam', arrivalRatePerS: i + 1 }] });
      await buses[i]!.serve(inferFilter(boards[i]!), (request) => ({ requestId: request.requestId, output: boards[i]!, latencyS: 0.01, queueS: 0, batchSize: 1 })).ready;
    }
    await waitFor('both boards\' rates at the hub', () => boards.every((b) => heard.includes(`fulcrum.${b}.arrivals.rate`)), 5000);

    // Board a forges board b: an announcement with another executor address, rates, power.
    const before = heard.length;
    await buses[0]!.publishRaw(`fulcrum.${boards[1]}.board.announce`, JSON.stringify({ measuredAt: new Date().toISOString(), device: 'orin-agx', softwareStack: 'jp6', executorAddress: '203.0.113.9:50052', state: 'running', jsDomain: boards[0] }));
    await buses[0]!.publishRaw(`fulcrum.${boards[1]}.arrivals.rate`, '{}');
    // …and its own announcement right after, which does arrive: the link carried the forgeries' turn.
    await announce(0, '10.0.0.1:50052');
    await waitFor('board a\'s own announcement after the forgeries', () => heard.slice(before).includes(`fulcrum.${boards[0]}.board.announce`), 5000);
    await sleep(300);
    assert.deepEqual(heard.slice(before).filter((s) => s.includes(boards[1])), [], 'nothing published on board a\'s leaf for board b reaches the hub');

    // JetStream: board a cannot reach the hub's domain (nor, as below, answer for board b's).
    await assert.rejects(buses[0]!.requestRaw('$JS.hub.API.INFO', '', { timeoutMs: 1500 }), (err: Error) => /no-responders|nobody|timeout|timed out/i.test(`${(err as { code?: string }).code} ${err.message}`));

    // From here board a listens on its own leaf for what the hub might pass it of board b's: board
    // b's subjects (nothing of board b's is published on board a's leaf from now on) and the
    // hub client's replies, of which only board a's own answer may be seen there…
    const leaked: string[] = [];
    const spy = await connect({ servers: leaves[0]!.url });
    t.after(() => spy.close());
    spy.subscribe(`fulcrum.${boards[1]}.>`, { callback: (_e, m) => void leaked.push(m.subject) });
    // …and it would answer JetStream requests for board b's domain (the mirror's) if they came.
    spy.subscribe(`$JS.${boards[1]}.API.>`, { callback: (_e, m) => void leaked.push(m.subject) });
    spy.subscribe('_INBOX.hub.>', { callback: (_e, m) => void (m.string().includes(boards[0]) || leaked.push(`${m.subject}: ${m.string()}`)) });
    await spy.flush();

    // What a fleet needs still works: the optimizer mirrors each board's stream from its domain…
    for (let i = 0; i < 2; i++) {
      const got: BoardEventMessage[] = [];
      const follow = hubBus.followBoard(boards[i]!, (m) => void got.push(m), { domain: boards[i]!, from: 'all' });
      await follow.ready;
      await waitFor(`board ${boards[i]}'s stream mirrored into the hub`, () => got.some((m) => m.kind === 'arrivals.rate'), 15_000);
      assert.ok(got.every((m) => m.kind === 'board.announce' || m.kind === 'arrivals.rate'), got.map((m) => m.kind).join());
      const addresses = new Set(got.flatMap((m) => (m.kind === 'board.announce' ? [m.event.executorAddress] : [])));
      assert.deepEqual([...addresses], [`10.0.0.${i + 1}:50052`], `board ${boards[i]}'s stream holds its own announcements only`);
      follow.unsubscribe();
      await follow.closed;
    }
    // …and a client at the hub reaches each board's inference, and gets the answer back.
    for (const b of boards) {
      const reply = await client.request(`fulcrum.${b}.infer.cam`, JSON.stringify({ requestId: `r-${b}` }), { timeout: 5000 });
      assert.equal((reply.json() as { output: string }).output, b);
    }
    await sleep(200);
    assert.deepEqual(leaked, [], 'board a heard none of the hub\'s traffic for board b: no events, no JetStream requests, no replies');
  });
});
