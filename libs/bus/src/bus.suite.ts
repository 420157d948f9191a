/**
 * The behaviour every `EventBus` backend must show; `in-process.test.ts` and `nats.test.ts`
 * run it against their backend. Not a test file itself (no `.test.ts`).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '@fulcrum/core';
import type { CommonBusOptions } from './bus.js';
import { BusError, isBusError } from './errors.js';
import { MalformedEventError, isErrorReply, type ProfileResult, type ExecutorStatusEvent } from './events.js';
import { arrivalsRateSubject, boardAnnounceSubject, eventFilter, inferFilter, inferSubject, planAppliedSubject, profileCompletedSubject, executorStatusSubject } from './subjects.js';
import type { BoardEventMessage, BusLogger, EventBus, KeyValueChange, Subscription } from './types.js';

export type Connect = (options?: CommonBusOptions) => Promise<EventBus>;

let unique = 0;
/** A device name no other test uses (NATS streams outlive a test). */
export function freshDevice(prefix = 'dev'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${unique++}`;
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function capturingLogger(): BusLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`),
    info: () => undefined,
  };
}

export const silentLogger: BusLogger = { warn: () => undefined, info: () => undefined };

export function executorStatus(queueDepth: number): ExecutorStatusEvent {
  return { measuredAt: new Date().toISOString(), trainThroughputSamplesPerS: 120, utilization: 0.2, streams: [{ stream: 'cam', queueDepth, latencyP99S: 0.08 }] };
}

export function profile(device: string, batchSize: number, overrides: Partial<ProfileResult> = {}): ProfileResult {
  return {
    device,
    softwareStack: 'jp6.0-torch2.3',
    workload: 'resnet18',
    kind: 'infer',
    batchSize,
    mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 },
    timeMs: 10 + batchSize,
    powerW: 30,
    measuredAt: '2025-01-31T12:00:00.000Z',
    samples: 20,
    ...overrides,
  };
}

async function collect<M>(sub: Subscription<M>): Promise<M[]> {
  const out: M[] = [];
  for await (const m of sub) out.push(m);
  return out;
}

export function busBehaviourSuite(name: string, connect: Connect): void {
  async function pair(t: TestContext, options: CommonBusOptions = { logger: silentLogger }): Promise<[EventBus, EventBus]> {
    const a = await connect(options);
    const b = await connect(options);
    t.after(() => Promise.all([a.close(), b.close()]));
    return [a, b];
  }

  describe(`EventBus behaviour: ${name}`, () => {
    test('publish/subscribe delivers typed events to a handler, in order', async (t) => {
      const [pub, sub] = await pair(t);
      const device = freshDevice();
      const got: number[] = [];
      const s = sub.subscribe(executorStatusSubject(device), (m) => {
        assert.equal(m.subject.board, device);
        assert.equal(m.subject.kind, 'executor.status');
        got.push(m.event.streams[0]!.queueDepth);
      });
      await s.ready;
      for (let i = 0; i < 5; i++) await pub.publish(executorStatusSubject(device), executorStatus(i));
      await waitFor('5 events', () => got.length === 5);
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
      assert.deepEqual({ ...s.stats(), lastRejection: undefined }, { received: 5, delivered: 5, rejected: 0, handlerErrors: 0, lastRejection: undefined });
    });

    test('a filter without a board sees every board; the iterator form works and ends on unsubscribe', async (t) => {
      const [pub, sub] = await pair(t);
      const [d1, d2] = [freshDevice(), freshDevice()];
      const s = sub.subscribe(eventFilter('plan.applied'));
      await s.ready;
      const plan = (planId: string) => ({ planId, appliedAt: new Date().toISOString(), mode: { cores: 8, cpuMhz: 1728, gpuMhz: 612, emcMhz: 3199 }, streams: [{ stream: 'cam', batchSize: 4 }] });
      await pub.publish(planAppliedSubject(d1), plan('p1'));
      await pub.publish(planAppliedSubject(d2), plan('p2'));
      await pub.publish(executorStatusSubject(d1), executorStatus(1)); // another kind: not seen
      const seen: string[] = [];
      for await (const m of s) {
        seen.push(`${m.subject.board}:${m.event.planId}`);
        if (seen.length === 2) break; // leaving the loop unsubscribes
      }
      assert.deepEqual(seen, [`${d1}:p1`, `${d2}:p2`]);
      await s.closed;
    });

    test('unsubscribe stops delivery; drain delivers what already arrived', async (t) => {
      const [pub, sub] = await pair(t);
      const device = freshDevice();
      const got: number[] = [];
      const s = sub.subscribe(executorStatusSubject(device), async (m) => {
        await sleep(5);
        got.push(m.event.streams[0]!.queueDepth);
      });
      await s.ready;
      for (let i = 0; i < 3; i++) await pub.publish(executorStatusSubject(device), executorStatus(i));
      await waitFor('3 received', () => s.stats().received === 3);
      await s.drain();
      assert.deepEqual(got, [0, 1, 2]);
      await pub.publish(executorStatusSubject(device), executorStatus(9));
      await sleep(50);
      assert.deepEqual(got, [0, 1, 2]);

      const other = sub.subscribe(executorStatusSubject(device), () => assert.fail('no delivery after unsubscribe'));
      await other.ready;
      other.unsubscribe();
      await pub.publish(executorStatusSubject(device), executorStatus(10));
      await other.closed;
      await sleep(50);
    });

    test('garbage on a subject is rejected with a clear error, counted, and the subscriber keeps working', async (t) => {
      const logger = capturingLogger();
      const [pub, sub] = await pair(t, { logger });
      const device = freshDevice();
      const subject = executorStatusSubject(device);
      const got: number[] = [];
      const s = sub.subscribe(subject, (m) => void got.push(m.event.streams[0]!.queueDepth));
      await s.ready;
      await pub.publishRaw(subject.subject, 'not json at all');
      await pub.publishRaw(subject.subject, new Uint8Array([0xff, 0xfe, 0x00]));
      await pub.publishRaw(subject.subject, JSON.stringify({ measuredAt: new Date().toISOString(), streams: [{ stream: 'cam', queueDepth: -1 }] }));
      await pub.publishRaw(subject.subject, JSON.stringify({ measuredAt: 'yesterday' }));
      await pub.publishRaw(subject.subject, '[]');
      await pub.publish(subject, executorStatus(7));
      await waitFor('the good event', () => got.length === 1);
      assert.deepEqual(got, [7]);
      const stats = s.stats();
      assert.equal(stats.rejected, 5);
      assert.equal(stats.delivered, 1);
      assert.match(stats.lastRejection ?? '', new RegExp(`malformed payload on ${subject.subject.replace(/\./g, '\\.')}: payload: must be a JSON object, got an array`));
      assert.equal(logger.warnings.filter((w) => w.startsWith('bus: rejected a malformed message')).length, 5);
      assert.ok(logger.warnings.some((w) => w.includes('streams[0].queueDepth: expected number (uint32): -1 out of range')), logger.warnings.join('\n'));
      assert.ok(logger.warnings.some((w) => w.includes('measuredAt: must be an RFC 3339 timestamp')), logger.warnings.join('\n'));
      assert.ok(logger.warnings.some((w) => w.includes('payload: is not JSON')), logger.warnings.join('\n'));
      assert.ok(logger.warnings.some((w) => w.includes('payload: is not valid UTF-8')), logger.warnings.join('\n'));
    });

    test('a flood of malformed messages is counted in full but logged at most 10 times, the rest summed up in one line', async (t) => {
      const logger = capturingLogger();
      const [pub, sub] = await pair(t, { logger });
      const device = freshDevice();
      const subject = executorStatusSubject(device);
      const s = sub.subscribe(subject, () => undefined);
      await s.ready;
      for (let i = 0; i < 300; i++) await pub.publishRaw(subject.subject, `garbage ${i}`);
      await waitFor('all rejected', () => s.stats().rejected === 300);
      assert.equal(sub.rejectedMessages(), 300);
      assert.equal(pub.rejectedMessages(), 0);
      const lines = () => logger.warnings.filter((w) => w.startsWith('bus: rejected a malformed message'));
      assert.equal(lines().length, 10, 'at most 10 lines a minute of one kind');
      await sub.close();
      const summary = lines().filter((w) => /290 more like this in the last \d+ s were not logged/.test(w));
      assert.equal(summary.length, 1, logger.warnings.slice(-3).join('\n'));
      assert.match(summary[0]!, /"suppressed":290/);
    });

    test('a handler that throws is counted and logged; the next message still comes', async (t) => {
      const logger = capturingLogger();
      const [pub, sub] = await pair(t, { logger });
      const device = freshDevice();
      const got: number[] = [];
      const s = sub.subscribe(executorStatusSubject(device), (m) => {
        const depth = m.event.streams[0]!.queueDepth;
        if (depth === 1) throw new Error('boom');
        got.push(depth);
      });
      await s.ready;
      for (let i = 0; i < 3; i++) await pub.publish(executorStatusSubject(device), executorStatus(i));
      await waitFor('2 handled', () => got.length === 2);
      assert.deepEqual(got, [0, 2]);
      assert.equal(s.stats().handlerErrors, 1);
      assert.ok(logger.warnings.some((w) => w.includes('boom')));
    });

    test('publish validates payloads and subjects before sending', async (t) => {
      const [pub] = await pair(t);
      const device = freshDevice();
      await assert.rejects(pub.publish(executorStatusSubject(device), { measuredAt: 'now' } as ExecutorStatusEvent), (err: unknown) => {
        assert.ok(err instanceof MalformedEventError);
        assert.ok(err instanceof ValidationError);
        assert.equal(err.field, 'measuredAt');
        return true;
      });
      // A board publishes the profiles of its device model: the payload's device is the model, not the board.
      assert.equal((await pub.publish(profileCompletedSubject(device), profile('orin-agx', 1))).durable, true);
      await assert.rejects(pub.publish(profileCompletedSubject(device), profile('lab.model', 1)), (err: unknown) => err instanceof MalformedEventError && err.field === 'device');
      assert.throws(() => executorStatusSubject('a.b'), ValidationError);
      assert.throws(() => executorStatusSubject('*'), ValidationError);
      await assert.rejects(pub.publish({ kind: 'executor.status', board: device, subject: 'fulcrum.other.executor.status' }, executorStatus(1)), ValidationError);
      await assert.rejects(pub.publishRaw('fulcrum.>', 'x'), ValidationError);
    });

    test('request/reply: results and explicit error replies come back typed', async (t) => {
      const [client, server] = await pair(t);
      const device = freshDevice();
      const service = server.serve(inferFilter(device), (request, subject) => {
        if (subject.stream === 'shedme') return { requestId: request.requestId, error: { code: 'shed', message: 'over capacity' } };
        return { requestId: request.requestId, output: { echo: request.input, stream: subject.stream }, latencyS: 0.01, queueS: 0.002, batchSize: 4 };
      });
      await service.ready;
      const reply = await client.request(inferSubject(device, 'cam'), { requestId: 'r1', input: [1, 2, 3] });
      assert.deepEqual(reply, { requestId: 'r1', output: { echo: [1, 2, 3], stream: 'cam' }, latencyS: 0.01, queueS: 0.002, batchSize: 4 });
      const shed = await client.request(inferSubject(device, 'shedme'), { requestId: 'r2' });
      assert.ok(isErrorReply(shed));
      assert.deepEqual(shed, { requestId: 'r2', error: { code: 'shed', message: 'over capacity' } });
      assert.equal(service.stats().answered, 2);
    });

    test('requests are served concurrently (a handler may hold one while others come in)', async (t) => {
      const [client, server] = await pair(t);
      const device = freshDevice();
      const held: Array<() => void> = [];
      const service = server.serve(inferFilter(device, 'cam'), async (request) => {
        await new Promise<void>((resolve) => held.push(resolve));
        return { requestId: request.requestId, latencyS: 0.05, queueS: 0.04, batchSize: 2 };
      });
      await service.ready;
      const replies = Promise.all([client.request(inferSubject(device, 'cam'), { requestId: 'a' }), client.request(inferSubject(device, 'cam'), { requestId: 'b' })]);
      await waitFor('both requests held', () => held.length === 2);
      assert.equal(service.stats().inFlight, 2);
      for (const release of held) release();
      assert.deepEqual((await replies).map((r) => r.requestId).sort(), ['a', 'b']);
    });

    test('a request nobody answers in time fails with a timeout error, without hanging', async (t) => {
      const [client, server] = await pair(t);
      const device = freshDevice();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const service = server.serve(inferFilter(device), async (request) => {
        await held; // answers only after the requester gave up
        return { requestId: request.requestId, error: { code: 'shutdown', message: 'stopping' } };
      });
      await service.ready;
      const started = Date.now();
      await assert.rejects(client.request(inferSubject(device, 'cam'), { requestId: 'slow' }, { timeoutMs: 200 }), (err: unknown) => {
        assert.ok(isBusError(err, 'timeout'), String(err));
        assert.equal((err as BusError).retryable, true);
        assert.match((err as Error).message, /no reply on fulcrum\..*\.infer\.cam within 200 ms/);
        return true;
      });
      assert.ok(Date.now() - started < 5000, 'bounded by the timeout, not by anything else');
      release();
      await service.drain();
      assert.equal(service.stats().answered, 1, 'the late reply is still sent (and dropped by the requester)');
    });

    test('a request with no service fails fast with no-responders', async (t) => {
      const [client] = await pair(t);
      await assert.rejects(client.request(inferSubject(freshDevice(), 'cam'), { requestId: 'x' }, { timeoutMs: 3000 }), (err: unknown) => isBusError(err, 'no-responders'));
    });

    test('a malformed request is answered with an explicit invalid error; a throwing handler with internal', async (t) => {
      const logger = capturingLogger();
      const [client, server] = await pair(t, { logger });
      const device = freshDevice();
      const service = server.serve(inferFilter(device), (request) => {
        if (request.requestId === 'bug') throw new Error('null pointer');
        return { requestId: request.requestId, latencyS: 0, queueS: 0, batchSize: 1 };
      });
      await service.ready;
      const subject = inferSubject(device, 'cam').subject;
      const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
      assert.deepEqual(decode(await client.requestRaw(subject, 'garbage')), {
        error: { code: 'invalid', message: `malformed payload on ${subject}: payload: is not JSON (Unexpected token 'g', "garbage" is not valid JSON): "garbage"` },
      });
      const missingField = decode(await client.requestRaw(subject, JSON.stringify({ requestId: 'r9', sentAt: 'soon' })));
      assert.equal(missingField['requestId'], 'r9');
      assert.deepEqual(missingField['error'], { code: 'invalid', message: `malformed payload on ${subject}: sentAt: must be an RFC 3339 timestamp such as 2025-01-31T12:00:00.000Z, got "soon"` });
      const bug = await client.request(inferSubject(device, 'cam'), { requestId: 'bug' });
      assert.deepEqual(bug, { requestId: 'bug', error: { code: 'internal', message: 'the inference handler failed: null pointer' } });
      // still serving
      assert.equal((await client.request(inferSubject(device, 'cam'), { requestId: 'ok' })).requestId, 'ok');
      assert.deepEqual({ ...service.stats() }, { received: 4, answered: 4, invalid: 2, handlerErrors: 1, inFlight: 0, rejected: 0 });
      await assert.rejects(client.request(inferSubject(device, 'cam'), { requestId: '' }), ValidationError);
    });

    test("a handler's malformed reply is replaced by an explicit internal error", async (t) => {
      const [client, server] = await pair(t);
      const device = freshDevice();
      const service = server.serve(inferFilter(device), (request) => ({ requestId: request.requestId, latencyS: -1, queueS: 0, batchSize: 1 }));
      await service.ready;
      const reply = await client.request(inferSubject(device, 'cam'), { requestId: 'neg' });
      assert.ok(isErrorReply(reply));
      assert.equal(reply.error.code, 'internal');
      assert.match(reply.error.message, /latencyS: must be a number ≥ 0, got -1/);
    });

    test('queue groups: each request is answered by one member', async (t) => {
      const [client, server] = await pair(t);
      const device = freshDevice();
      const served = [0, 0];
      const services = [0, 1].map((i) =>
        server.serve(inferFilter(device, 'cam'), (r) => {
          served[i]!++;
          return { requestId: r.requestId, latencyS: 0, queueS: 0, batchSize: 1 };
        }, { queue: 'executors' }),
      );
      await Promise.all(services.map((s) => s.ready));
      for (let i = 0; i < 10; i++) await client.request(inferSubject(device, 'cam'), { requestId: `q${i}` });
      assert.equal(served[0]! + served[1]!, 10);
    });

    test('profile.completed is durable: replay from the start, from a sequence, and follow', async (t) => {
      const [pub, sub] = await pair(t);
      const device = freshDevice();
      for (const b of [1, 2, 4]) {
        const ack = await pub.publish(profileCompletedSubject(device), profile(device, b));
        assert.equal(ack.durable, true);
        assert.equal(ack.sequence, Math.log2(b) + 1);
      }
      const all = await collect(sub.replayProfiles(device));
      assert.deepEqual(all.map((m) => [m.sequence, m.event.batchSize]), [[1, 1], [2, 2], [3, 4]]);
      assert.deepEqual(all[0]!.event, profile(device, 1));
      const later = await collect(sub.replayProfiles(device, undefined, { fromSequence: 2 }));
      assert.deepEqual(later.map((m) => m.event.batchSize), [2, 4]);
      assert.deepEqual(await collect(sub.replayProfiles(device, undefined, { fromSequence: 99 })), []);
      assert.deepEqual(await collect(sub.replayProfiles(freshDevice())), []);

      const followed: number[] = [];
      const follow = sub.replayProfiles(device, (m) => void followed.push(m.event.batchSize), { follow: true });
      await follow.ready;
      await waitFor('the backlog', () => followed.length === 3);
      await pub.publish(profileCompletedSubject(device), profile(device, 8));
      await waitFor('the new profile', () => followed.length === 4);
      assert.deepEqual(followed, [1, 2, 4, 8]);
      follow.unsubscribe();
      await follow.closed;
    });

    test('a board\'s durable events (profiles, arrival rates, plans applied, announcements) are one stream: followBoard in order with pending, last-per-kind, and replayProfiles still ends', async (t) => {
      const [pub, sub] = await pair(t);
      const board = freshDevice('board');
      const now = new Date().toISOString();
      const rates = (r: number) => ({ measuredAt: now, windowS: 10, planId: 'p1', streams: [{ stream: 'cam', arrivalRatePerS: r }] });
      const announce = { measuredAt: now, device: 'orin-agx', softwareStack: 'jp6', executorAddress: '10.0.0.2:50052', state: 'running' };
      const applied = { planId: 'p1', appliedAt: now, mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, streams: [] };
      const acks = [
        await pub.publish(boardAnnounceSubject(board), announce),
        await pub.publish(planAppliedSubject(board), applied),
        await pub.publish(arrivalsRateSubject(board), rates(10)),
        await pub.publish(profileCompletedSubject(board), profile(board, 1)),
        await pub.publish(arrivalsRateSubject(board), rates(20)),
      ];
      assert.deepEqual(acks.map((a) => [a.durable, a.sequence]), [[true, 1], [true, 2], [true, 3], [true, 4], [true, 5]]);
      // Telemetry is not durable.
      assert.equal((await pub.publish(executorStatusSubject(board), executorStatus(1))).durable, false);

      const all: BoardEventMessage[] = [];
      const follow = sub.followBoard(board, (m) => void all.push(m), { from: 'all' });
      await follow.ready;
      await waitFor('the backlog', () => all.length === 5);
      assert.deepEqual(all.map((m) => [m.kind, m.sequence, m.subject.board]), [
        ['board.announce', 1, board], ['plan.applied', 2, board], ['arrivals.rate', 3, board], ['profile.completed', 4, board], ['arrivals.rate', 5, board],
      ]);
      assert.equal(all.at(-1)!.pending, 0);
      assert.ok(all[0]!.pending >= 1, `pending ${all[0]!.pending} behind the first of five`);
      const last = all.at(-1)!;
      assert.ok(last.kind === 'arrivals.rate' && last.event.streams[0]!.arrivalRatePerS === 20);
      await pub.publish(planAppliedSubject(board), { ...applied, planId: 'p2' });
      await waitFor('the live event', () => all.length === 6);
      assert.ok(all[5]!.kind === 'plan.applied' && all[5]!.event.planId === 'p2' && all[5]!.pending === 0);
      follow.unsubscribe();
      await follow.closed;

      // The board's state: the latest of each kind, in stream order.
      const latest: BoardEventMessage[] = [];
      const state = sub.followBoard(board, (m) => void latest.push(m));
      await state.ready;
      await waitFor('one per kind', () => latest.length === 4);
      assert.deepEqual(latest.map((m) => [m.kind, m.sequence]), [['board.announce', 1], ['profile.completed', 4], ['arrivals.rate', 5], ['plan.applied', 6]]);
      state.unsubscribe();

      // A replay of profiles ends although other kinds come after the last profile.
      const profiles = await collect(sub.replayProfiles(board));
      assert.deepEqual(profiles.map((m) => [m.sequence, m.event.batchSize]), [[4, 1]]);
      assert.throws(() => sub.followBoard(board, undefined, { from: 0 }), ValidationError);
      assert.throws(() => sub.followBoard('no.dots'), ValidationError);
    });

    test('profile.completed: a repeated msgId is stored once; live subscribers see it too; garbage in the stream is skipped on replay', async (t) => {
      const [pub, sub] = await pair(t);
      const device = freshDevice();
      const live: number[] = [];
      const s = sub.subscribe(profileCompletedSubject(device), (m) => void live.push(m.event.batchSize));
      await s.ready;
      const first = await pub.publish(profileCompletedSubject(device), profile(device, 16), { msgId: 'k-16' });
      const again = await pub.publish(profileCompletedSubject(device), profile(device, 16), { msgId: 'k-16' });
      assert.equal(first.duplicate, false);
      assert.equal(again.duplicate, true);
      assert.equal(again.sequence, first.sequence);
      await pub.publishRaw(profileCompletedSubject(device).subject, '{"device": 42}');
      await pub.publish(profileCompletedSubject(device), profile(device, 32));
      const replay = sub.replayProfiles(device);
      const got = await collect(replay);
      assert.deepEqual(got.map((m) => m.event.batchSize), [16, 32]);
      assert.equal(replay.stats().rejected, 1);
      await waitFor('live deliveries', () => live.includes(32));
      assert.equal(live.filter((b) => b === 32).length, 1);
    });

    test('key-value: put, get, create-if-absent, delete, keys', async (t) => {
      const [a, b] = await pair(t);
      const bucket = `kv-${freshDevice()}`;
      type Row = { timeMs: number };
      const decode = (v: unknown): Row => {
        const timeMs = (v as Row | null)?.timeMs;
        if (typeof timeMs !== 'number' || timeMs <= 0) throw new ValidationError('timeMs', `must be a positive number, got ${String(timeMs)}`);
        return { timeMs };
      };
      const kvA = await a.keyValue(bucket, { decode });
      const kvB = await b.keyValue(bucket, { decode });
      const r1 = await kvA.put('orin.resnet18.b4', { timeMs: 12.5 });
      const got = await kvB.get('orin.resnet18.b4');
      assert.equal(got?.value.timeMs, 12.5);
      assert.equal(got?.revision, r1);
      assert.equal(await kvB.get('orin.nothing'), undefined);
      assert.equal(await kvB.create('orin.resnet18.b4', { timeMs: 99 }), undefined, 'create does not overwrite');
      assert.ok((await kvB.create('orin.resnet18.b8', { timeMs: 20 }))! > r1);
      assert.deepEqual(await kvA.keys(), ['orin.resnet18.b4', 'orin.resnet18.b8']);
      assert.deepEqual(await kvA.keys('orin.*.b8'), ['orin.resnet18.b8']);
      await kvA.delete('orin.resnet18.b4');
      assert.equal(await kvB.get('orin.resnet18.b4'), undefined);
      assert.deepEqual(await kvB.keys(), ['orin.resnet18.b8']);
      assert.ok((await kvB.create('orin.resnet18.b4', { timeMs: 1 })) !== undefined, 'create works again after a delete');
      await assert.rejects(kvA.put('bad key', { timeMs: 1 }), ValidationError);
      await assert.rejects(kvA.put('.leading', { timeMs: 1 }), ValidationError);
      await assert.rejects(kvA.put('ok', { timeMs: -1 }), ValidationError);
      await assert.rejects(a.keyValue('bad.bucket', { decode }), ValidationError);

      // A value that passes a looser decoder but not this one is reported, not returned.
      const loose = await a.keyValue(bucket, { decode: (v) => v });
      await loose.put('orin.broken', { timeMs: 'soon' });
      await assert.rejects(kvB.get('orin.broken'), (err: unknown) => err instanceof MalformedEventError && err.field === 'timeMs');
    });

    test('key-value watch: current values, then changes; undecodable values are skipped', async (t) => {
      const [a, b] = await pair(t);
      const bucket = `kv-${freshDevice()}`;
      const decode = (v: unknown): number => {
        if (typeof v !== 'number') throw new ValidationError('value', 'must be a number');
        return v;
      };
      const kv = await a.keyValue(bucket, { decode });
      await kv.put('p.one', 1);
      await kv.put('q.other', 100);
      const changes: Array<KeyValueChange<number>> = [];
      const w = (await b.keyValue(bucket, { decode })).watch({ key: 'p.>' }, (c) => void changes.push(c));
      await w.ready;
      await waitFor('the current value', () => changes.length === 1);
      await kv.put('p.two', 2);
      await kv.put('q.more', 200);
      await (await a.keyValue(bucket, { decode: (v) => v })).put('p.junk', 'not a number');
      await kv.delete('p.one');
      await waitFor('put and delete', () => changes.length === 3);
      assert.deepEqual(
        changes.map((c) => [c.key, c.operation, c.value]),
        [
          ['p.one', 'put', 1],
          ['p.two', 'put', 2],
          ['p.one', 'delete', undefined],
        ],
      );
      assert.equal(w.stats().rejected, 1);
      const updates: number[] = [];
      const onlyNew = kv.watch({ updatesOnly: true }, (c) => void (c.value !== undefined && updates.push(c.value)));
      await onlyNew.ready;
      await kv.put('p.three', 3);
      await waitFor('an update', () => updates.length === 1);
      assert.deepEqual(updates, [3]);
      w.unsubscribe();
      onlyNew.unsubscribe();
    });

    test('close() drains handlers, then everything fails with a closed error', async (t) => {
      const [pub] = await pair(t);
      const bus = await connect({ logger: silentLogger });
      const device = freshDevice();
      let handled = 0;
      const s = bus.subscribe(executorStatusSubject(device), async () => {
        await sleep(20);
        handled++;
      });
      await s.ready;
      const statuses: string[] = [];
      bus.onStatus((st) => statuses.push(st));
      await pub.publish(executorStatusSubject(device), executorStatus(1));
      await waitFor('received', () => s.stats().received === 1);
      await bus.close();
      assert.equal(handled, 1, 'the handler call in progress finished before close returned');
      await s.closed;
      assert.equal(bus.status(), 'closed');
      await assert.rejects(bus.publish(executorStatusSubject(device), executorStatus(2)), (err: unknown) => isBusError(err, 'closed'));
      await assert.rejects(bus.request(inferSubject(device, 'cam'), { requestId: 'x' }), (err: unknown) => isBusError(err, 'closed'));
      const late = bus.subscribe(executorStatusSubject(device));
      await assert.rejects(late.ready, (err: unknown) => isBusError(err, 'closed'));
      await bus.close(); // idempotent
    });
  });
}
