// The board's announcer (SPEC §1, board.announce) against a real nats-server: the last
// announcement of a graceful stop, `stopped`, is sent once and nothing after it; with a NATS that
// does not answer it is given up after STOPPED_ANNOUNCEMENT_LIMIT_MS instead of holding the
// shutdown for the bus's JetStream acknowledgement timeout (5 s).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { connectNatsBus, eventFilter, type BoardAnnounceEvent, type EventBus } from '@fulcrum/bus/internal';
import { startNatsServer } from '@fulcrum/bus/testing';
import { createLogger } from '@fulcrum/runtime/internal';
import { BoardAnnouncer, STOPPED_ANNOUNCEMENT_LIMIT_MS } from './announce.js';

const quiet = createLogger({ name: 'test', level: 'silent' });

function announcer(bus: EventBus, board: string, softwareStack: () => Promise<string> = async () => 'stack-1') {
  return new BoardAnnouncer({ bus, board, device: 'orin-agx', executorAddress: '127.0.0.1:1', intervalS: 0, softwareStack, state: () => ({ state: 'running', planId: 'p1' }), logger: quiet });
}

/** SIGSTOP, then wait until every thread of the process has stopped (the signal lands asynchronously). */
async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stopped = (): boolean => readdirSync(`/proc/${pid}/task`).every((t) => /^\) [tT]/.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\)/, ')')));
  for (let i = 0; i < 200 && !stopped(); i++) await sleep(5);
  assert.ok(stopped(), `nats-server ${pid} did not stop`);
}

describe('BoardAnnouncer.stop', () => {
  it('sends state stopped (no plan) once; an announcement still under way is dropped, and nothing comes after it', async () => {
    const nats = await startNatsServer();
    const bus = await connectNatsBus({ url: nats.url, logger: quiet });
    const listener = await connectNatsBus({ url: nats.url, logger: quiet });
    try {
      const heard: BoardAnnounceEvent[] = [];
      const sub = listener.subscribe(eventFilter('board.announce', 'b1'), (m) => void heard.push(m.event));
      await sub.ready;
      // The engine answers the software stack late: the announcement asking for it is still under way when the board stops.
      let release: (s: string) => void = () => undefined;
      let asked = 0;
      const a = announcer(bus, 'b1', () => {
        asked++;
        return new Promise<string>((resolve) => (release = resolve));
      });
      const early = a.announce();
      for (let i = 0; i < 200 && asked === 0; i++) await sleep(5);
      const stopping = Promise.all([a.stop(), a.stop()]);
      release('stack-1');
      await Promise.all([stopping, early]);
      assert.equal(asked, 1, 'the stopped announcement does not ask the engine again');
      for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(10);
      await sleep(100);
      assert.deepEqual(
        heard.map((e) => [e.state, e.planId, e.softwareStack]),
        [['stopped', undefined, 'stack-1']],
        'the running announcement that was under way when the board stopped is dropped; stopped is sent once',
      );
      await a.announce();
      await sleep(100);
      assert.equal(heard.length, 1, 'nothing after stopped');
    } finally {
      await listener.close();
      await bus.close();
      await nats.stop();
    }
  });

  it(`gives up after ${STOPPED_ANNOUNCEMENT_LIMIT_MS} ms when NATS does not answer, without throwing`, async () => {
    const nats = await startNatsServer();
    const bus = await connectNatsBus({ url: nats.url, jetStreamTimeoutMs: 5000, logger: quiet });
    const frozen = nats.pid;
    try {
      const a = announcer(bus, 'b2');
      await a.announce(); // the board's stream exists, the stack is known
      // The server still holds the connection but answers nothing (a link that dropped without a
      // reset looks the same): the publish waits for its acknowledgement, 5 s here.
      await freeze(frozen);
      const t0 = performance.now();
      await a.stop();
      const ms = performance.now() - t0;
      assert.ok(ms >= STOPPED_ANNOUNCEMENT_LIMIT_MS - 50 && ms < STOPPED_ANNOUNCEMENT_LIMIT_MS + 400, `stop took ${ms.toFixed(0)} ms`);
    } finally {
      process.kill(frozen, 'SIGCONT');
      await bus.close();
      await nats.stop();
    }
  });
});

describe('BoardAnnouncer failures', () => {
  it('warns once when announcements stop going out (optimizers cannot hear of the board), says when they go out again', async () => {
    const nats = await startNatsServer();
    const bus = await connectNatsBus({ url: nats.url, logger: quiet });
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger({ name: 'test', level: 'debug', pretty: false, destination: { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) } });
    let fail = true;
    const a = new BoardAnnouncer({
      bus,
      board: 'b3',
      device: 'orin-agx',
      executorAddress: '127.0.0.1:1',
      intervalS: 0,
      // The engine cannot say its stack (as a publish JetStream refuses would fail): the announcement is not sent.
      softwareStack: async () => {
        if (fail) throw new Error('no stack');
        return 'stack-1';
      },
      state: () => ({ state: 'idle' }),
      logger,
    });
    try {
      for (let i = 0; i < 3; i++) await a.announce();
      const warned = lines.filter((l) => l.level === 40);
      assert.equal(warned.length, 1, JSON.stringify(lines));
      assert.match(warned[0]!.msg, /board announcement not sent; optimizers will not hear of this board/);
      assert.equal(lines.filter((l) => l.level === 20 && /not sent/.test(l.msg)).length, 2, 'the repeats are debug');
      fail = false;
      await a.announce();
      assert.ok(lines.some((l) => l.level === 30 && /go out again/.test(l.msg)));
    } finally {
      a.close();
      await bus.close();
      await nats.stop();
    }
  });
});
