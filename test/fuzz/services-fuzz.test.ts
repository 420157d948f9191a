// Property-based fuzzing of the four services as processes (`fulcrum serve <name>`, a real
// nats-server, a bearer token), as a remote client reaches them: fast-check builds requests from
// the proto descriptors (the FileDescriptorSet of @fulcrum/proto, reflected with
// @bufbuild/protobuf) and sends them as raw bytes to every RPC of each service, the two
// server-streaming ones (Solve, StreamTelemetry) included; 1,000 calls per service after a
// warm-up of 60. The four services are fuzzed at the same time, one channel each, so each also
// meets the load the others make (mode switches during a measurement, plans applied while a
// Solve profiles) — and the file takes about a minute on two cores.
//
// What is sent, per call, one of:
// * a "plausible" message: most fields drawn from what a service accepts (the controller's grid,
//   the catalog's devices and workloads, small batch sizes, sane budgets; half of them with
//   distinct stream names and a plan entry per problem stream), so many calls pass validation and
//   reach the deep paths (profiling on the virtual board, applying and running a plan, inference,
//   solving); the other fields boundary or random;
// * a "chaotic" message: every field boundary or random — 0, -1, NaN, ±Infinity, 2^31, 2^53,
//   2^64 - 1 for uint64, Timestamps past what a Date holds, unknown enum values, strings up to
//   100 KB with subject wildcards, NUL and astral characters, missing and empty nested messages,
//   repeated fields 33, 1,000 or 5,000 long;
// * random bytes, or a plausible encoding with bytes flipped, truncated or appended.
//
// What must hold for every call:
// * it is answered within its deadline, 5 s. A client-side DEADLINE_EXCEEDED is a hang, a
//   failure — except where the contract lets a valid call run longer than we wait:
//   - a valid Solve, a valid Replan with allow_profiling and a valid Profile on the grid profile
//     modes on the virtual board. The executor runs at time scale 100 and the profiler with 1
//     warm-up and 2 measured minibatches, settle 0, so most finish in well under a second, but a
//     strategy with a larger budget or a problem with more streams and batch sizes legitimately
//     takes longer. These get a 1 s deadline, and DEADLINE_EXCEEDED is accepted: the call is
//     cancelled (which cancels its profiling) and the next calls must still be answered in time;
//   - a SetPowerMode on the grid with a settle_s beyond the deadline (up to 600 s by contract):
//     given up on after 500 ms; the next switches must not wait for it;
//   - StreamTelemetry (max_samples 0 streams until cancelled): 100 ms deadline.
//   "Valid" is decided by the conversion code the services run (@fulcrum/proto), so a hang on an
//   invalid request still fails;
// * the status is never INTERNAL, UNKNOWN, UNAVAILABLE (every peer is up; Infer's documented
//   "no plan applied yet" aside), UNIMPLEMENTED or DATA_LOSS, and an OK answer decodes;
// * INVALID_ARGUMENT carries a message under 1 KB and an ErrorDetail whose field is a path of the
//   request message (`problem.streams[3].workload.name`), unless the bytes do not decode at all
//   (then the message says "cannot be decoded");
// * the process is still alive.
// After each service's run: its RSS (VmRSS) is under twice its RSS after the warm-up (counted as
// at least 200 MB: an idle service is ~150 MB and V8 grows its heap lazily) and under 600 MB; it
// logged no error and no event it could not publish (a "malformed payload" built from accepted
// input); and it still answers a valid call on the same channel.
//
// The seed is fixed (FUZZ_SEED overrides it; printed), so a failure replays; FUZZ_RUNS sets the
// calls per service; FUZZ_TRACE=1 prints every call and the RSS every 100 calls.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { create, createFileRegistry, fromBinary, toBinary, ScalarType, type DescField, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { BUILTIN_CATALOG } from '@fulcrum/core';
import { device, executor, loadDescriptorSet, optimizer, problemFromProto, profileRequestFromProto, profiler, strategyFromProto } from '@fulcrum/proto';
import { clientSecurity, errorField } from '@fulcrum/runtime/internal';
import { killAllServices, serveProcess, type ServiceProcess } from '../support/serve-process.js';

const TOKEN = 'fuzz-token-0123456789';
const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : 0x5eed14;
const RUNS = process.env['FUZZ_RUNS'] ? Number(process.env['FUZZ_RUNS']) : 1000;
const WARMUP_RUNS = 60;
const DEADLINE_MS = 5000;
const LONG_DEADLINE_MS = 1000;
const TELEMETRY_DEADLINE_MS = 100;
const RSS_CAP_KB = 600 * 1024;
/** RSS after the run: under twice the RSS after warm-up, counted as at least this (V8 grows a young heap lazily). */
const RSS_FLOOR_KB = 200 * 1024;

// ---------------------------------------------------------------------------------------------
// Service processes (test/support/serve-process.ts), with the error lines each one logs

type FuzzedService = ServiceProcess & {
  /** Log lines at level error or fatal, and events the service built but could not publish (malformed payload). */
  problems(): readonly string[];
};

async function serve(name: string, args: readonly string[]): Promise<FuzzedService> {
  const problems: string[] = [];
  const p = await serveProcess(name, args, {
    onStderrLine: (line) => {
      if (/"level":(50|60)|malformed payload/.test(line) && problems.length < 20) problems.push(line.slice(0, 600));
    },
  });
  return Object.assign(p, { problems: () => problems });
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmRSS for ${pid}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------
// Requests from the descriptors

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, loadDescriptorSet()));

interface Grid {
  readonly cores: readonly number[];
  readonly cpuMhz: readonly number[];
  readonly gpuMhz: readonly number[];
  readonly emcMhz: readonly number[];
}

/** What the generators draw plausible values from (the controller's grid is read at start). */
interface World {
  readonly grid: Grid;
}

/** How a message is generated: `plausible` weighs the plausible values of a field; `small` keeps strings and lists short. */
interface Style {
  readonly plausible: number;
  readonly small: boolean;
}

const WORKLOADS = BUILTIN_CATALOG.workloadIds();
const STREAM_NAMES = ['cam', 's1', 'door-2'];

const BOUNDARY_DOUBLES = [0, -0, -1, 1, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 1e-300, -1e300, 3601, 601];
const BOUNDARY_UINT32 = [0, 1, 2, 64, 4096, 4097, 10_000, 10_001, 100_000, 100_001, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const BOUNDARY_INT32 = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 999_999_999, 1_000_000_000];
const BOUNDARY_UINT64 = [0n, 1n, 2n ** 31n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
const BOUNDARY_INT64 = [0n, 1n, -1n, 10n ** 13n, -(10n ** 13n), 2n ** 53n, -(2n ** 53n), 253_402_300_800n, -62_135_596_801n, 2n ** 63n - 1n, -(2n ** 63n)];
const BOUNDARY_ENUMS = [-1, 3, 9, 99, 2 ** 31 - 1, -(2 ** 31)];
const ODD_STRINGS = ['', ' ', '\u0000', 'a.b', '*', '>', 'orin-agx.*', 'fulcrum.>', '../../etc/passwd', '💥', '\uD800', 'x'.repeat(64), 'x'.repeat(65), 'ORIN-AGX', 'resnet18 ', 'cam\n', '%s%s%n', '{"a":1}'];

const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(1024, 10_000, 65_536, 100_000), fc.constantFrom('a', 'é', '💥', '.', '\u0000', 'resnet18,'))
  .map(([n, c]) => c.repeat(Math.ceil(n / c.length)).slice(0, n));

function stringArb(style: Style): fc.Arbitrary<string> {
  const arbs: fc.WeightedArbitrary<string>[] = [
    { arbitrary: fc.constantFrom(...ODD_STRINGS), weight: 3 },
    { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  ];
  if (!style.small) arbs.push({ arbitrary: hugeString, weight: 1 });
  return fc.oneof(...arbs);
}

function scalarArb(type: ScalarType, style: Style): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.oneof(fc.constantFrom(...BOUNDARY_DOUBLES), fc.double(), fc.double({ min: -100, max: 5000 }));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.constantFrom(...BOUNDARY_UINT32), fc.nat({ max: 2 ** 32 - 1 }), fc.nat({ max: 70 }));
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(fc.constantFrom(...BOUNDARY_INT32), fc.integer());
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.constantFrom(...BOUNDARY_UINT64), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 100n }));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(fc.constantFrom(...BOUNDARY_INT64), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: 0n, max: 4_000_000_000n }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return stringArb(style);
    case ScalarType.BYTES:
      return style.small ? fc.uint8Array({ maxLength: 32 }) : fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(100_000).fill(0x7b)));
  }
}

const between = (min: number, max: number): fc.Arbitrary<number> => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });

/**
 * Plausible values by `<message type>.<field>` (proto names), an element arbitrary for lists;
 * `via` is the field that holds the message (a training workload is not a stream's).
 */
function plausibleArb(world: World, field: DescField, via: string | undefined): fc.Arbitrary<unknown> | undefined {
  const key = `${field.parent.typeName}.${field.name}`;
  const { grid } = world;
  switch (key) {
    case 'fulcrum.common.v1.PowerMode.cores':
      return fc.constantFrom(...grid.cores);
    case 'fulcrum.common.v1.PowerMode.cpu_mhz':
      return fc.constantFrom(...grid.cpuMhz);
    case 'fulcrum.common.v1.PowerMode.gpu_mhz':
      return fc.constantFrom(...grid.gpuMhz);
    case 'fulcrum.common.v1.PowerMode.emc_mhz':
      return fc.constantFrom(...grid.emcMhz);
    case 'fulcrum.common.v1.Problem.device':
    case 'fulcrum.common.v1.Plan.device':
    case 'fulcrum.profiler.v1.ProfileRequest.device':
    case 'fulcrum.profiler.v1.GetProfilesRequest.device':
      return fc.constantFrom('orin-agx', '');
    case 'fulcrum.common.v1.Workload.name':
    case 'fulcrum.profiler.v1.GetProfilesRequest.workload':
      return fc.constantFrom(...WORKLOADS);
    case 'fulcrum.common.v1.Workload.kind':
      if (via === 'fulcrum.common.v1.Problem.train_workload') return fc.constantFrom(1, 1, 0);
      if (via === 'fulcrum.common.v1.InferenceStream.workload') return fc.constantFrom(2, 2, 0);
      return fc.constantFrom(1, 2);
    case 'fulcrum.profiler.v1.GetProfilesRequest.kind':
      return fc.constantFrom(1, 2);
    case 'fulcrum.common.v1.Problem.train_batch_size':
      return fc.constantFrom(0, 1, 8, 32);
    case 'fulcrum.common.v1.Problem.power_budget_w':
      return between(5, 60);
    case 'fulcrum.common.v1.Problem.power_semantics':
      return fc.constantFrom(0, 1, 2);
    case 'fulcrum.common.v1.Problem.streams':
    case 'fulcrum.common.v1.Plan.streams':
    case 'fulcrum.profiler.v1.ProfileRequest.workloads':
      return undefined;
    case 'fulcrum.common.v1.InferenceStream.name':
    case 'fulcrum.common.v1.StreamPlan.stream':
    case 'fulcrum.executor.v1.InferRequest.stream':
      return fc.constantFrom(...STREAM_NAMES);
    case 'fulcrum.common.v1.InferenceStream.arrival_rate_per_s':
      return between(0.5, 50);
    case 'fulcrum.common.v1.InferenceStream.latency_budget_s':
      return between(0.05, 2);
    case 'fulcrum.common.v1.InferenceStream.candidate_batch_sizes':
    case 'fulcrum.profiler.v1.WorkloadBatches.batch_sizes':
      return fc.constantFrom(1, 2, 4, 8, 16);
    case 'fulcrum.common.v1.StreamPlan.batch_size':
    case 'fulcrum.executor.v1.RunMeasurementRequest.batch_size':
    case 'fulcrum.profiler.v1.GetProfilesRequest.batch_size':
      return fc.constantFrom(1, 2, 4, 8, 16, 32);
    case 'fulcrum.common.v1.StreamPlan.utilization':
    case 'fulcrum.common.v1.Plan.utilization':
      return between(0, 0.9);
    case 'fulcrum.common.v1.Plan.predicted_power_w':
    case 'fulcrum.common.v1.Plan.predicted_train_throughput_samples_per_s':
    case 'fulcrum.common.v1.Plan.train_time_ms':
    case 'fulcrum.common.v1.StreamPlan.predicted_latency_s':
      return between(0, 500);
    case 'fulcrum.common.v1.Plan.binding_constraint':
      return fc.constantFrom(0, 1, 2, 3);
    case 'fulcrum.common.v1.Plan.plan_id':
      return fc.constantFrom('', 'fuzz-plan', 'fuzz-plan-2');
    case 'fulcrum.common.v1.Plan.violations':
      return undefined;
    case 'google.protobuf.Timestamp.seconds':
      return fc.bigInt({ min: 0n, max: 4_000_000_000n });
    case 'google.protobuf.Timestamp.nanos':
      return fc.integer({ min: 0, max: 999_999_999 });
    case 'fulcrum.profiler.v1.ProfileRequest.warmup_minibatches':
    case 'fulcrum.executor.v1.RunMeasurementRequest.warmup_minibatches':
      return fc.constantFrom(0, 1, 2);
    case 'fulcrum.profiler.v1.ProfileRequest.measured_minibatches':
    case 'fulcrum.executor.v1.RunMeasurementRequest.measured_minibatches':
      return fc.constantFrom(0, 1, 2, 3);
    case 'fulcrum.profiler.v1.ProfileRequest.settle_s':
      return fc.constantFrom(0, 0.001, 0.01);
    case 'fulcrum.device.v1.SetPowerModeRequest.settle_s':
      // Now and then the contract's longest settle, from a client that will not wait for it.
      return fc.oneof({ arbitrary: fc.constantFrom(0, 0.001, 0.01), weight: 30 }, { arbitrary: fc.constant(600), weight: 1 });
    case 'fulcrum.profiler.v1.GetProfilesRequest.page_size':
      return fc.nat({ max: 5 });
    case 'fulcrum.profiler.v1.GetProfilesRequest.page_token':
      return fc.constant('');
    case 'fulcrum.optimizer.v1.SolveRequest.mode_budget':
      return fc.integer({ min: 1, max: 4 });
    case 'fulcrum.optimizer.v1.SolveRequest.seed':
      return fc.bigInt({ min: 0n, max: 5n });
    case 'fulcrum.optimizer.v1.SolveRequest.grid':
      return fc.constantFrom('', 'full', '441', '4368');
    case 'fulcrum.optimizer.v1.SolveRequest.strategy':
      return fc.nat({ max: 8 });
    case 'fulcrum.optimizer.v1.ReplanRequest.strategy':
      // Without a budget: the default (GMD), MAXN, the best preset.
      return fc.constantFrom(0, 4, 5);
    case 'fulcrum.optimizer.v1.ReplanRequest.previous_plan_id':
      return fc.constantFrom('', 'fuzz-plan');
    case 'fulcrum.device.v1.StreamTelemetryRequest.interval_ms':
      return fc.nat({ max: 20 });
    case 'fulcrum.device.v1.StreamTelemetryRequest.max_samples':
      return fc.integer({ min: 1, max: 5 });
    case 'fulcrum.executor.v1.InferRequest.input':
      return fc.constantFrom(new Uint8Array(0), Buffer.from('{}'), Buffer.from('[1,2,3]'), Buffer.from('"x"'));
    case 'fulcrum.executor.v1.InferRequest.content_type':
      return fc.constantFrom('', 'application/json', 'application/octet-stream');
    default:
      return undefined;
  }
}

const LONG_LENGTHS = [33, 1000, 5000];

function fieldArb(world: World, field: DescField, style: Style, via: string | undefined): fc.Arbitrary<unknown> {
  const plausible = style.plausible > 0 ? plausibleArb(world, field, via) : undefined;
  const here = `${field.parent.typeName}.${field.name}`;
  const element = (): fc.Arbitrary<unknown> => {
    const kind = field.fieldKind === 'list' ? field.listKind : field.fieldKind;
    if (kind === 'message') return messageArb(world, field.message!, style, here);
    if (kind === 'enum') {
      const known = field.enum!.values.map((v) => v.number);
      return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 3 }, { arbitrary: fc.constantFrom(...BOUNDARY_ENUMS), weight: 1 });
    }
    return scalarArb(field.scalar!, style);
  };
  const mix = (chaotic: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
    plausible ? fc.oneof({ arbitrary: plausible, weight: style.plausible }, { arbitrary: chaotic, weight: 1 }) : chaotic;
  if (field.fieldKind === 'map') throw new Error(`no generator for map ${field.name}`);
  if (field.fieldKind !== 'list') return mix(element());
  const item = mix(element());
  const short = style.plausible > 0 ? fc.array(item, { minLength: field.listKind === 'scalar' && field.name === 'candidate_batch_sizes' ? 0 : 1, maxLength: 3 }) : fc.array(item, { maxLength: 6 });
  if (style.small) return short;
  // A long list repeats one small element (5,000 distinct 100 KB strings would not fit a message).
  const smallItem = field.listKind === 'message' ? messageArb(world, field.message!, { plausible: style.plausible, small: true }, here) : fieldArb(world, field, { ...style, small: true }, via).map((xs) => (xs as unknown[])[0] ?? 0);
  const long = fc.tuple(fc.constantFrom(...LONG_LENGTHS), smallItem).map(([n, x]) => Array.from({ length: n }, () => x));
  return fc.oneof({ arbitrary: short, weight: 12 }, { arbitrary: long, weight: 1 });
}

const messageArbs = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** A message as `create()` init: each field absent or a value; sometimes the empty message. */
function messageArb(world: World, desc: DescMessage, style: Style, via?: string): fc.Arbitrary<Record<string, unknown>> {
  const key = `${desc.typeName}/${style.plausible}/${style.small}/${via ?? ''}`;
  const cached = messageArbs.get(key);
  if (cached) return cached;
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of desc.fields) model[f.localName] = fieldArb(world, f, style, via);
  const record = desc.fields.length ? fc.record(model, { requiredKeys: [] }) : fc.constant({});
  // Plausible messages keep most fields (a missing required field is chaos of its own).
  const arb = style.plausible > 0 ? fc.oneof({ arbitrary: fc.record(model), weight: 9 }, { arbitrary: record, weight: 1 }) : fc.oneof({ arbitrary: record, weight: 8 }, { arbitrary: fc.constant({}), weight: 1 });
  messageArbs.set(key, arb);
  return arb;
}

type Body = { readonly how: 'plausible' | 'chaotic' | 'random-bytes' | 'mutated'; readonly bytes: Uint8Array; readonly init?: unknown };

type Init = Record<string, unknown>;

/** Distinct stream names in a plausible problem, and for a plan one entry per problem stream: what the descriptors cannot know. */
function coherent(desc: DescMessage, init: Init): Init {
  const problem = init['problem'] as Init | undefined;
  const streams = problem?.['streams'] as Init[] | undefined;
  if (!problem || !Array.isArray(streams) || streams.length > STREAM_NAMES.length) return init;
  const named = streams.map((s, i) => ({ ...s, name: STREAM_NAMES[i] }));
  const out: Init = { ...init, problem: { ...problem, streams: named } };
  const plan = init['plan'] as Init | undefined;
  if (desc.typeName === 'fulcrum.executor.v1.ApplyPlanRequest' && plan) {
    const given = (plan['streams'] as Init[] | undefined) ?? [];
    out['plan'] = { ...plan, streams: named.map((s, i) => ({ ...given[i], stream: s['name'] })) };
  }
  return out;
}

function requestArb(world: World, desc: DescMessage): fc.Arbitrary<Body> {
  const encode = (init: Init): Uint8Array => toBinary(desc, create(desc, init as never));
  const plausible = fc
    .tuple(messageArb(world, desc, { plausible: 12, small: false }), fc.boolean())
    .map(([raw, fix]): Body => {
      const init = fix ? coherent(desc, raw) : raw;
      return { how: 'plausible', bytes: encode(init), init };
    });
  const chaotic = messageArb(world, desc, { plausible: 0, small: false }).map((init): Body => ({ how: 'chaotic', bytes: encode(init), init }));
  const random = fc.uint8Array({ maxLength: 512 }).map((bytes): Body => ({ how: 'random-bytes', bytes }));
  const mutated = fc
    .tuple(plausible, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.constantFrom('flip', 'truncate', 'append'))
    .map(([body, edits, how]): Body => {
      let bytes: Uint8Array = Uint8Array.from(body.bytes);
      if (how === 'truncate' && bytes.length > 0) bytes = bytes.slice(0, edits[0]![0] % bytes.length);
      else if (how === 'append') bytes = Uint8Array.from([...bytes, ...edits.flatMap(([a, b]) => [a % 256, b])]);
      else if (bytes.length > 0) for (const [i, b] of edits) bytes[i % bytes.length] = b;
      return { how: 'mutated', bytes };
    });
  return fc.oneof({ arbitrary: plausible, weight: 5 }, { arbitrary: chaotic, weight: 4 }, { arbitrary: random, weight: 1 }, { arbitrary: mutated, weight: 1 });
}

// ---------------------------------------------------------------------------------------------
// Calls and the properties each must hold

interface Method {
  readonly path: string;
  readonly desc: DescMethod;
  readonly streaming: boolean;
  /** The generated decoders (what the service itself runs). */
  decodeRequest(bytes: Uint8Array): unknown;
  decodeResponse(bytes: Buffer): unknown;
  /** The deadline of a call, and whether a client-side DEADLINE_EXCEEDED is the contract's own (long valid work), not a hang. */
  deadline(request: unknown): { ms: number; mayRunLong: boolean };
  /** An UNAVAILABLE the contract names for this method (Infer before any plan), by its message. */
  readonly documentedUnavailable?: RegExp | undefined;
  /** What an OK answer must say about this request (the contract), or undefined when it does. */
  readonly checkAnswer?: ((request: unknown, responses: readonly unknown[]) => string | undefined) | undefined;
}

interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata | undefined;
  readonly responses: readonly Buffer[];
  readonly elapsedMs: number;
}

const identity = (b: Buffer): Buffer => b;

function invoke(client: grpc.Client, method: Method, bytes: Uint8Array, deadlineMs: number): Promise<Outcome> {
  const started = Date.now();
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const options = { deadline: new Date(started + deadlineMs) };
  return new Promise((resolve) => {
    const responses: Buffer[] = [];
    const done = (err: grpc.ServiceError | null): void =>
      resolve({ code: err ? err.code : grpc.status.OK, details: err?.details ?? '', metadata: err?.metadata, responses, elapsedMs: Date.now() - started });
    if (method.streaming) {
      const call = client.makeServerStreamRequest(method.path, identity, identity, body, new grpc.Metadata(), options);
      call.on('data', (b: Buffer) => void responses.push(b));
      // 'status' comes last, OK or not; the error is reported there too.
      call.on('error', () => undefined);
      call.on('status', (s: grpc.StatusObject) => done(s.code === grpc.status.OK ? null : Object.assign(new Error(s.details), s)));
    } else {
      client.makeUnaryRequest(method.path, identity, identity, body, new grpc.Metadata(), options, (err, res) => {
        if (res) responses.push(res);
        done(err);
      });
    }
  });
}

const decodes = (method: Method, bytes: Uint8Array): unknown => {
  try {
    return method.decodeRequest(bytes);
  } catch {
    return undefined;
  }
};

/** Each segment of an ErrorDetail field path (`problem.streams[3].workload.name`) names a field of the message it is in. */
function isFieldPath(desc: DescMessage, path: string): boolean {
  let msg: DescMessage | undefined = desc;
  for (const segment of path.split('.')) {
    if (!msg) return false;
    const name = segment.replace(/(\[\d+\])+$/, '');
    const field: DescField | undefined = msg.fields.find((f) => f.localName === name);
    if (!field) return false;
    msg = field.fieldKind === 'message' ? field.message : field.fieldKind === 'list' && field.listKind === 'message' ? field.message : undefined;
  }
  return true;
}

const BAD_CODES = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNAVAILABLE, grpc.status.UNIMPLEMENTED, grpc.status.DATA_LOSS]);

/** A short, printable account of a request for a failure message. */
function describeBody(body: Body): string {
  const text = JSON.stringify(body.init ?? null, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (typeof v === 'string' && v.length > 80) return `${JSON.stringify(v.slice(0, 40))}… (${v.length} chars)`;
    if (Array.isArray(v) && v.length > 8) return [...v.slice(0, 3), `… (${v.length} items)`];
    if (v instanceof Uint8Array) return `<${v.length} bytes>`;
    return v;
  });
  const bytes = Buffer.from(body.bytes);
  return `${body.how}, ${bytes.length} bytes${body.init === undefined ? ` (${bytes.subarray(0, 64).toString('hex')}${bytes.length > 64 ? '…' : ''})` : ''}: ${text.length > 2000 ? `${text.slice(0, 2000)}…` : text}`;
}

async function check(service: FuzzedService, client: grpc.Client, method: Method, body: Body, stats: Map<string, number>): Promise<void> {
  const request = decodes(method, body.bytes);
  const { ms, mayRunLong } = request === undefined ? { ms: DEADLINE_MS, mayRunLong: false } : method.deadline(request);
  const out = await invoke(client, method, body.bytes, ms);
  const what = () => `${method.desc.name} (${describeBody(body)}) → ${grpc.status[out.code]} after ${out.elapsedMs} ms: ${out.details.slice(0, 300)}`;
  const tally = `${method.desc.name} ${grpc.status[out.code]}`;
  if (process.env['FUZZ_TRACE']) console.log(`TRACE ${service.name} ${method.desc.name} ${body.how} ${body.bytes.length} → ${grpc.status[out.code]} ${out.elapsedMs} ms: ${out.details.slice(0, 200)}`);
  stats.set(tally, (stats.get(tally) ?? 0) + 1);
  assert.equal(service.child.exitCode, null, `${service.name} exited after ${what()}\n${service.log()}`);
  assert.equal(service.child.signalCode, null, `${service.name} was killed after ${what()}\n${service.log()}`);
  const clientTimeout = out.code === grpc.status.DEADLINE_EXCEEDED && /^Deadline exceeded/i.test(out.details);
  if (clientTimeout) assert.ok(mayRunLong, `no answer within ${ms} ms (a hang): ${what()}`);
  const documented = out.code === grpc.status.UNAVAILABLE && method.documentedUnavailable?.test(out.details);
  assert.ok(!BAD_CODES.has(out.code) || documented, `status ${grpc.status[out.code]}: ${what()}\n${service.log().slice(-3000)}`);
  if (out.code === grpc.status.INVALID_ARGUMENT) {
    assert.ok(Buffer.byteLength(out.details) < 1024, `a message of ${Buffer.byteLength(out.details)} bytes: ${what()}`);
    if (request === undefined) {
      assert.match(out.details, /cannot be decoded/, what());
    } else {
      const field = errorField({ ...new Error(out.details), code: out.code, details: out.details, metadata: out.metadata ?? new grpc.Metadata() });
      assert.ok(field, `INVALID_ARGUMENT without an ErrorDetail field: ${what()}`);
      assert.ok(isFieldPath(method.desc.input, field), `ErrorDetail field ${JSON.stringify(field)} is not a field of ${method.desc.input.typeName}: ${what()}`);
    }
  }
  if (out.code === grpc.status.OK) {
    if (!method.streaming) assert.equal(out.responses.length, 1, what());
    const answers = out.responses.map((r) => {
      try {
        return method.decodeResponse(r);
      } catch (err) {
        assert.fail(`an answer that does not decode (${(err as Error).message}): ${what()}`);
      }
    });
    const wrong = request === undefined ? undefined : method.checkAnswer?.(request, answers);
    assert.equal(wrong, undefined, `${wrong}: ${what()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Which valid calls may take longer than the deadline (see the header)

function onGrid(mode: { cores: number; cpuMhz: number; gpuMhz: number; emcMhz: number } | undefined, grid: Grid): boolean {
  return !!mode && grid.cores.includes(mode.cores) && grid.cpuMhz.includes(mode.cpuMhz) && grid.gpuMhz.includes(mode.gpuMhz) && grid.emcMhz.includes(mode.emcMhz);
}

function succeeds(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

const validProblem = (p: unknown): boolean => succeeds(() => problemFromProto(p as never, { defaultDevice: 'orin-agx' }));
const knownStrategy = (s: number, budget: number): boolean => s !== optimizer.Strategy.STRATEGY_ORACLE && succeeds(() => strategyFromProto(s, budget));

interface Definition {
  readonly [method: string]: { readonly path: string; readonly responseStream: boolean; requestDeserialize(b: Buffer): unknown; responseDeserialize(b: Buffer): unknown };
}

interface MethodRules {
  readonly deadline?: (request: never) => { ms: number; mayRunLong: boolean };
  readonly unavailable?: RegExp;
  readonly answer?: (request: never, responses: never[]) => string | undefined;
}

function methodsOf(serviceName: string, definition: Definition, rules: Record<string, MethodRules>): Method[] {
  const svc = registry.getService(serviceName);
  assert.ok(svc, serviceName);
  return svc.methods.map((desc) => {
    const def = Object.values(definition).find((d) => d.path === `/${serviceName}/${desc.name}`);
    assert.ok(def, `${serviceName}/${desc.name}`);
    const rule = rules[desc.name] ?? {};
    return {
      path: def.path,
      desc,
      streaming: def.responseStream,
      decodeRequest: (bytes: Uint8Array) => def.requestDeserialize(Buffer.from(bytes)),
      decodeResponse: (bytes: Buffer) => def.responseDeserialize(bytes),
      deadline: (rule.deadline ?? (() => normal)) as (request: unknown) => { ms: number; mayRunLong: boolean },
      documentedUnavailable: rule.unavailable,
      checkAnswer: rule.answer as Method['checkAnswer'],
    };
  });
}

/** fast-check's report without the counterexample itself (100 KB strings); the assertion describes the request. */
function reporter<T>(run: fc.RunDetails<T>): void {
  if (!run.failed) return;
  const err = run.errorInstance;
  throw new Error(`property failed after ${run.numRuns} calls (seed ${run.seed}, path ${JSON.stringify(run.counterexamplePath)}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

const normal = { ms: DEADLINE_MS, mayRunLong: false };
const long = { ms: LONG_DEADLINE_MS, mayRunLong: true };

// ---------------------------------------------------------------------------------------------

describe('fuzzing the four services as processes', { timeout: 600_000, concurrency: true }, () => {
  let dir: string;
  let nats: NatsServer;
  const services: Record<'device-controller' | 'executor' | 'profiler' | 'optimizer', FuzzedService> = {} as never;
  let world: World;
  const clients: grpc.Client[] = [];

  before(async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${RUNS} calls per service`);
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-fuzz-'));
    nats = await startNatsServer({ storeDir: join(dir, 'nats') });
    const common = ['--nats', nats.url, `--grpc.token=${TOKEN}`, '--metrics.port=-1', '--grpc.port=0'];
    const controller = await serve('device-controller', [...common, '--telemetry.min-interval-ms=1']);
    services['device-controller'] = controller;
    const peer = (name: string, address: string) => [`--${name}.address=${address}`, `--${name}.token=${TOKEN}`, `--${name}.attempts=2`, `--${name}.initial-backoff-ms=50`, `--${name}.max-backoff-ms=200`];
    services.executor = await serve('executor', [...common, '--time-scale=100', '--executor.max-measurement-minibatches=64', '--executor.max-measurement-s=2', ...peer('controller', controller.ready.address)]);
    services.profiler = await serve('profiler', [
      ...common,
      '--store',
      'sqlite',
      `--store.path=${join(dir, 'profiles.db')}`,
      ...peer('controller', controller.ready.address),
      ...peer('executor', services.executor.ready.address),
      '--protocol.settle-s=0',
      '--protocol.warmup-minibatches=1',
      '--protocol.measured-minibatches=2',
      '--protocol.telemetry-interval-ms=2',
    ]);
    services.optimizer = await serve('optimizer', [...common, ...peer('profiler', services.profiler.ready.address), ...peer('executor', services.executor.ready.address), '--executor.apply']);
    // The grid the plausible modes are drawn from.
    const info = await unary<device.GetDeviceInfoResponse>(services['device-controller'], device.DeviceControllerService.getDeviceInfo, device.GetDeviceInfoRequest.encode({}).finish());
    world = { grid: info.info!.grid! };
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const name of ['optimizer', 'profiler', 'executor', 'device-controller'] as const) {
      const p = services[name];
      if (!p) continue;
      const code = await p.stop();
      if (code !== 0 && code !== null) process.stderr.write(`fulcrum serve ${p.name} exited ${code}:\n${p.log()}\n`);
    }
    killAllServices();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function channel(service: FuzzedService): grpc.Client {
    const { credentials, options } = clientSecurity({ token: TOKEN });
    const client = new grpc.Client(service.ready.address, credentials, options);
    clients.push(client);
    return client;
  }

  async function unary<Res>(service: FuzzedService, def: { path: string; responseDeserialize(b: Buffer): unknown }, bytes: Uint8Array, client = channel(service)): Promise<Res> {
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(def.path, identity, (b: Buffer) => def.responseDeserialize(b) as Res, Buffer.from(bytes), new grpc.Metadata(), { deadline: new Date(Date.now() + DEADLINE_MS) }, (err, res) => (err ? reject(err) : resolve(res!))),
    );
  }

  /**
   * Warm-up, then the run; RSS bounded; then a valid call on the same channel. Every call is
   * checked; the distinct failures (by method, status and message) are collected and reported
   * together at the end, the run stopping early after 20 of them.
   */
  async function fuzz(name: keyof typeof services, methods: Method[], validCall: (client: grpc.Client) => Promise<void>): Promise<void> {
    const service = services[name];
    const client = channel(service);
    const arb = fc.oneof(...methods.map((m) => requestArb(world, m.desc.input).map((body) => ({ method: m, body }))));
    const stats = new Map<string, number>();
    const failures = new Map<string, string>();
    let failed = 0;
    let calls = 0;
    const property = fc.asyncProperty(arb, async ({ method, body }) => {
      const n = ++calls;
      if (process.env['FUZZ_TRACE'] && n % 100 === 0) console.log(`TRACE ${name} RSS ${Math.round(rssKb(service.ready.pid) / 1024)} MB after ${n} calls`);
      try {
        await check(service, client, method, body, stats);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // One report per method, outcome and message (numbers aside); stop after 20 failed calls.
        const key = `${method.desc.name} ${message.replace(/^.*?→/s, '').replace(/\d+/g, '#').slice(0, 100)}`;
        if (!failures.has(key)) failures.set(key, `call ${n}: ${message}`);
        if (++failed >= 20 || service.child.exitCode !== null) throw new Error('stopping: too many failures, or the service died');
      }
    });
    const started = Date.now();
    const runs = async (seed: number, numRuns: number) => {
      try {
        await fc.assert(property, { seed, numRuns, endOnFailure: true, reporter });
      } catch (err) {
        if (failures.size === 0) throw err;
      }
    };
    await runs(SEED ^ 0xabc, WARMUP_RUNS);
    const warmRss = rssKb(service.ready.pid);
    await runs(SEED, RUNS);
    const finalRss = rssKb(service.ready.pid);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${name}: ${calls} calls in ${seconds} s; RSS ${Math.round(warmRss / 1024)} MB after warm-up, ${Math.round(finalRss / 1024)} MB after; ${[...stats].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`);
    assert.equal(failed, 0, `${failed} failed calls, ${failures.size} distinct (seed ${SEED}):\n${[...failures.values()].join('\n\n')}`);
    assert.deepEqual(service.problems(), [], `${name} logged errors or could not publish an event it built from accepted input`);
    assert.ok(finalRss < 2 * Math.max(warmRss, RSS_FLOOR_KB), `${name}: RSS ${finalRss} kB after the run, more than twice ${warmRss} kB after warm-up (at least ${RSS_FLOOR_KB} kB)`);
    assert.ok(finalRss < RSS_CAP_KB, `${name}: RSS ${finalRss} kB`);
    await validCall(client);
  }

  it('device-controller: GetDeviceInfo, SetPowerMode, GetPowerMode, StreamTelemetry', async () => {
    const methods = methodsOf('fulcrum.device.v1.DeviceController', device.DeviceControllerService as unknown as Definition, {
      SetPowerMode: {
        // A valid switch with a settle longer than the deadline is given up on by design (after 500 ms): the next calls must not wait for it.
        deadline: (r: device.SetPowerModeRequest) => (onGrid(r.mode, world.grid) && r.settleS * 1000 > DEADLINE_MS / 2 ? { ms: 500, mayRunLong: true } : normal),
        answer: (r: device.SetPowerModeRequest, [res]: device.SetPowerModeResponse[]) => (onGrid(res?.mode, world.grid) ? undefined : `switched to ${JSON.stringify(res?.mode)}, off the grid (asked ${JSON.stringify(r.mode)})`),
      },
      StreamTelemetry: {
        deadline: () => ({ ms: TELEMETRY_DEADLINE_MS, mayRunLong: true }),
        // Stops after max_samples; seq counts from 0.
        answer: (r: device.StreamTelemetryRequest, samples: device.StreamTelemetryResponse[]) =>
          r.maxSamples > 0 && samples.length > r.maxSamples ? `${samples.length} samples for max_samples ${r.maxSamples}` : samples.some((x, i) => x.seq !== i) ? `seq ${samples.map((x) => x.seq).join(',')}` : undefined,
      },
    });
    await fuzz('device-controller', methods, async (client) => {
      const res = await unary<device.GetPowerModeResponse>(services['device-controller'], device.DeviceControllerService.getPowerMode, device.GetPowerModeRequest.encode({}).finish(), client);
      assert.ok(onGrid(res.mode, world.grid), JSON.stringify(res));
    });
  });

  it('executor: ApplyPlan, Status, RunMeasurement, Infer', async () => {
    const methods = methodsOf('fulcrum.executor.v1.Executor', executor.ExecutorService as unknown as Definition, {
      // executor.proto / README: Infer is UNAVAILABLE before the first plan.
      Infer: { unavailable: /^no plan applied yet/ },
      // n measured minibatches, n times.
      RunMeasurement: {
        answer: (r: executor.RunMeasurementRequest, [res]: executor.RunMeasurementResponse[]) =>
          res?.minibatchTimesMs.length === r.measuredMinibatches && res.minibatchTimesMs.every((t) => Number.isFinite(t) && t > 0) ? undefined : `times ${JSON.stringify(res?.minibatchTimesMs.slice(0, 5))} for ${r.measuredMinibatches} minibatches`,
      },
    });
    await fuzz('executor', methods, async (client) => {
      const res = await unary<executor.StatusResponse>(services.executor, executor.ExecutorService.status, executor.StatusRequest.encode({}).finish(), client);
      assert.ok(Object.values(executor.State).includes(res.state), JSON.stringify(res));
    });
  });

  it('profiler: Profile, GetProfiles', async () => {
    const methods = methodsOf('fulcrum.profiler.v1.Profiler', profiler.ProfilerService as unknown as Definition, {
      Profile: {
        deadline: (r: profiler.ProfileRequest) => (onGrid(r.mode, world.grid) && succeeds(() => profileRequestFromProto(r)) ? long : normal),
        // One result per requested (workload, batch size), in request order.
        answer: (r: profiler.ProfileRequest, [res]: profiler.ProfileResponse[]) => {
          const asked = r.workloads.flatMap((w) => w.batchSizes.map((b) => `${w.workload?.name}/${b}`));
          const got = (res?.results ?? []).map((x) => `${x.workload}/${x.batchSize}`);
          return JSON.stringify(asked) === JSON.stringify(got) ? undefined : `results ${got.slice(0, 6).join(' ')} for ${asked.slice(0, 6).join(' ')}`;
        },
      },
      GetProfiles: {
        answer: (r: profiler.GetProfilesRequest, [res]: profiler.GetProfilesResponse[]) => ((res?.results.length ?? 0) <= (r.pageSize || 100) ? undefined : `${res?.results.length} results for page_size ${r.pageSize}`),
      },
    });
    await fuzz('profiler', methods, async (client) => {
      const res = await unary<profiler.GetProfilesResponse>(services.profiler, profiler.ProfilerService.getProfiles, profiler.GetProfilesRequest.encode(profiler.GetProfilesRequest.fromPartial({ device: 'orin-agx', pageSize: 5 })).finish(), client);
      assert.ok(res.results.length <= 5);
    });
  });

  it('optimizer: Solve, GetParetoFront, Replan', async () => {
    const methods = methodsOf('fulcrum.optimizer.v1.Optimizer', optimizer.OptimizerService as unknown as Definition, {
      Solve: {
        deadline: (r: optimizer.SolveRequest) => (validProblem(r.problem) && knownStrategy(r.strategy, r.modeBudget) && r.modeBudget <= 10_000 ? long : normal),
        // ModeProfiled events, then exactly one SolveCompleted, last.
        answer: (_r: optimizer.SolveRequest, events: optimizer.SolveResponse[]) => {
          const kinds = events.map((e) => e.event?.$case);
          return kinds.indexOf('completed') === kinds.length - 1 && kinds.filter((k) => k === 'completed').length === 1 ? undefined : `events ${kinds.join(',')}`;
        },
      },
      Replan: { deadline: (r: optimizer.ReplanRequest) => (r.allowProfiling && validProblem(r.problem) && knownStrategy(r.strategy, 0) ? long : normal) },
    });
    await fuzz('optimizer', methods, async (client) => {
      const problem = { device: 'orin-agx', trainWorkload: { name: 'resnet18', kind: 1 }, trainBatchSize: 32, powerBudgetW: 30, streams: [{ name: 'cam', workload: { name: 'mobilenet', kind: 2 }, arrivalRatePerS: 10, latencyBudgetS: 0.5, candidateBatchSizes: [1, 4] }] };
      const res = await unary<optimizer.GetParetoFrontResponse>(services.optimizer, optimizer.OptimizerService.getParetoFront, optimizer.GetParetoFrontRequest.encode(optimizer.GetParetoFrontRequest.fromPartial({ problem })).finish(), client);
      assert.ok(res.modesConsidered >= 0);
    });
  });
});
