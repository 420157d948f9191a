import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ServerWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { ERROR_DETAIL_METADATA_KEY, common, device, optimizer } from './index.js';

const { WorkloadKind, PowerSemantics, Constraint } = common;

const MAXN: common.PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };

function twoStreamProblem(): common.Problem {
  return {
    device: 'orin-agx',
    trainWorkload: { name: 'resnet18', kind: WorkloadKind.WORKLOAD_KIND_TRAIN },
    trainBatchSize: 32,
    powerBudgetW: 32.5,
    powerSemantics: PowerSemantics.POWER_SEMANTICS_AVERAGE,
    streams: [
      {
        name: 'cam-front',
        workload: { name: 'yolov8n', kind: WorkloadKind.WORKLOAD_KIND_INFER },
        arrivalRatePerS: 30,
        latencyBudgetS: 0.25,
        candidateBatchSizes: [1, 2, 4, 8],
      },
      {
        name: 'qa',
        workload: { name: 'bert-base', kind: WorkloadKind.WORKLOAD_KIND_INFER },
        arrivalRatePerS: 2.5,
        latencyBudgetS: 1.5,
        candidateBatchSizes: [],
      },
    ],
  };
}

describe('protobuf encoding', () => {
  it('round-trips a Problem with two streams through the wire format', () => {
    const problem = twoStreamProblem();
    const bytes = common.Problem.encode(problem).finish();
    assert.ok(bytes.length > 0);
    const decoded = common.Problem.decode(bytes);
    assert.deepEqual(decoded, problem);
    assert.equal(decoded.streams.length, 2);
    assert.equal(decoded.streams[1]?.latencyBudgetS, 1.5);
    assert.deepEqual(decoded.streams[0]?.candidateBatchSizes, [1, 2, 4, 8]);
    assert.equal(decoded.powerSemantics, PowerSemantics.POWER_SEMANTICS_AVERAGE);
  });

  it('decodes an empty message to proto3 defaults (PEAK is the unspecified zero)', () => {
    const decoded = common.Problem.decode(new Uint8Array());
    assert.equal(decoded.powerSemantics, PowerSemantics.POWER_SEMANTICS_UNSPECIFIED);
    assert.equal(decoded.powerSemantics, 0);
    assert.deepEqual(decoded.streams, []);
    assert.equal(decoded.trainWorkload, undefined); // useOptionals=messages
    assert.equal(decoded.powerBudgetW, 0);
  });

  it('keeps the PowerMode wire contract (field numbers and types)', () => {
    const bytes = common.PowerMode.encode(MAXN).finish();
    const expected = Buffer.alloc(2 + 3 * 9);
    expected[0] = 0x08; // field 1, varint
    expected[1] = 12;
    let o = 2;
    for (const [tag, value] of [[0x11, 2201.6], [0x19, 1300.5], [0x21, 3199]] as const) {
      expected[o] = tag; // fields 2..4, fixed64 (double)
      expected.writeDoubleLE(value, o + 1);
      o += 9;
    }
    assert.deepEqual(Buffer.from(bytes), expected);
  });

  it('round-trips an infeasible Plan with violations, a Date and its cost', () => {
    const plan: common.Plan = {
      planId: 'p-1',
      device: 'orin-agx',
      mode: MAXN,
      streams: [
        { stream: 'cam-front', batchSize: 4, predictedLatencyS: 0.31, utilization: 0.42 },
        { stream: 'qa', batchSize: 1, predictedLatencyS: 0.9, utilization: 0.11 },
      ],
      predictedTrainThroughputSamplesPerS: 187.25,
      predictedPowerW: 41.7,
      utilization: 0.53,
      feasible: false,
      bindingConstraint: Constraint.CONSTRAINT_LATENCY,
      bindingStream: 'cam-front',
      violations: [
        { constraint: Constraint.CONSTRAINT_LATENCY, stream: 'cam-front', value: 0.31, limit: 0.25 },
        { constraint: Constraint.CONSTRAINT_POWER, stream: '', value: 41.7, limit: 32.5 },
      ],
      strategy: 'gmd',
      trainTimeMs: 170.9,
      createdAt: new Date('2025-01-02T03:04:05.678Z'),
    };
    const decoded = common.Plan.decode(common.Plan.encode(plan).finish());
    assert.deepEqual(decoded, plan);
    assert.ok(decoded.createdAt instanceof Date);
    assert.equal(decoded.createdAt.getTime(), Date.parse('2025-01-02T03:04:05.678Z'));
    assert.equal(decoded.violations[1]?.constraint, Constraint.CONSTRAINT_POWER);

    // JSON form (what a CLI or a NATS event may carry) round-trips too.
    const json = common.Plan.toJSON(plan) as Record<string, unknown>;
    assert.equal(json['bindingConstraint'], 'CONSTRAINT_LATENCY');
    assert.equal(json['createdAt'], '2025-01-02T03:04:05.678Z');
    assert.deepEqual(common.Plan.fromJSON(JSON.parse(JSON.stringify(json))), plan);

    const cost: common.PlanCost = { modesProfiled: 13, modesReused: 2, profilingSeconds: 512.5, optimizerMs: 3.25, remeasures: 3 };
    assert.deepEqual(common.PlanCost.decode(common.PlanCost.encode(cost).finish()), cost);
  });

  it('round-trips the Solve oneof as a {$case, value} union', () => {
    const done: optimizer.SolveResponse = {
      event: {
        $case: 'completed',
        value: { plan: common.Plan.fromPartial({ planId: 'p-2', feasible: true, mode: MAXN }), cost: undefined },
      },
    };
    const decoded = optimizer.SolveResponse.decode(optimizer.SolveResponse.encode(done).finish());
    assert.equal(decoded.event?.$case, 'completed');
    assert.ok(decoded.event?.$case === 'completed');
    assert.equal(decoded.event.value.plan?.planId, 'p-2');
    assert.equal(decoded.event.value.plan?.feasible, true);
    assert.deepEqual(decoded.event.value.plan?.mode, MAXN);
  });
});

describe('DeviceController over a real @grpc/grpc-js server', () => {
  const grid: common.PowerModeGrid = { cores: [4, 8, 12], cpuMhz: [1113.6, 2201.6], gpuMhz: [408, 1300.5], emcMhz: [2133, 3199] };
  const onGrid = (m: common.PowerMode): boolean =>
    grid.cores.includes(m.cores) && grid.cpuMhz.includes(m.cpuMhz) && grid.gpuMhz.includes(m.gpuMhz) && grid.emcMhz.includes(m.emcMhz);

  let current: common.PowerMode = { ...MAXN };
  let telemetryCancelled: Promise<void> = Promise.resolve();
  let server: Server;
  let client: device.DeviceControllerClient;

  const impl: device.DeviceControllerServer = {
    getDeviceInfo(_call, callback) {
      callback(null, {
        info: {
          board: 'test-board',
          device: 'orin-agx',
          displayName: 'Jetson Orin AGX (test)',
          backend: device.Backend.BACKEND_VIRTUAL,
          softwareStack: 'test-1',
          grid,
          modeCount: grid.cores.length * grid.cpuMhz.length * grid.gpuMhz.length * grid.emcMhz.length,
          presets: [{ name: 'MAXN', mode: MAXN, note: '' }],
          hardCapW: 60,
          notes: 'synthetic',
        },
      });
    },
    setPowerMode(call, callback) {
      const mode = call.request.mode;
      if (mode === undefined || !onGrid(mode)) {
        const trailers = new Metadata();
        const detail: common.ErrorDetail = { field: 'mode', reason: 'not on the device grid' };
        trailers.add(ERROR_DETAIL_METADATA_KEY, Buffer.from(common.ErrorDetail.encode(detail).finish()));
        callback({ code: status.INVALID_ARGUMENT, details: 'mode: not on the device grid', metadata: trailers });
        return;
      }
      const previousMode = current;
      current = { ...mode };
      callback(null, { mode: current, previousMode, switchS: 0.05 });
    },
    getPowerMode(_call, callback) {
      callback(null, { mode: current });
    },
    streamTelemetry(call: ServerWritableStream<device.StreamTelemetryRequest, device.StreamTelemetryResponse>) {
      const { maxSamples, intervalMs } = call.request;
      let seq = 0;
      let resolveCancelled!: () => void;
      telemetryCancelled = new Promise((r) => (resolveCancelled = r));
      const tick = (): void => {
        if (call.cancelled) return;
        call.write({ measuredAt: new Date(), mode: current, powerW: 10 + seq, rails: [{ rail: 'VDD_GPU_SOC', powerW: 4 + seq }], seq });
        seq += 1;
        if (maxSamples > 0 && seq >= maxSamples) {
          clearInterval(timer);
          call.end();
        }
      };
      const timer = setInterval(tick, intervalMs || 5);
      call.on('cancelled', () => {
        clearInterval(timer);
        resolveCancelled();
      });
    },
  };

  /** Promise form of a generated unary client method (e.g. `(cb) => client.getPowerMode({}, cb)`). */
  function unary<Res>(start: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
    return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
  }

  before(async () => {
    server = new Server();
    server.addService(device.DeviceControllerService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    assert.ok(port > 0);
    client = new device.DeviceControllerClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('GetDeviceInfo returns the grid, presets and uint64 count as numbers', async () => {
    const res = await unary<device.GetDeviceInfoResponse>((cb) => client.getDeviceInfo({}, cb));
    assert.equal(res.info?.device, 'orin-agx');
    assert.equal(res.info?.backend, device.Backend.BACKEND_VIRTUAL);
    assert.deepEqual(res.info?.grid, grid);
    assert.equal(res.info?.modeCount, 24);
    assert.equal(typeof res.info?.modeCount, 'number'); // forceLong=number
    assert.deepEqual(res.info?.presets[0]?.mode, MAXN);
  });

  it('SetPowerMode switches (read back by GetPowerMode) and reports the previous mode', async () => {
    const target: common.PowerMode = { cores: 4, cpuMhz: 1113.6, gpuMhz: 408, emcMhz: 2133 };
    const res = await unary<device.SetPowerModeResponse>((cb) => client.setPowerMode({ mode: target, settleS: 0 }, cb));
    assert.deepEqual(res.mode, target);
    assert.deepEqual(res.previousMode, MAXN);
    assert.equal(res.switchS, 0.05);
    const now = await unary<device.GetPowerModeResponse>((cb) => client.getPowerMode({}, cb));
    assert.deepEqual(now.mode, target);
  });

  it('SetPowerMode rejects an off-grid mode with INVALID_ARGUMENT and an ErrorDetail', async () => {
    const initial = await unary<device.GetPowerModeResponse>((cb) => client.getPowerMode({}, cb));
    const offGrid = { cores: 5, cpuMhz: 1000, gpuMhz: 408, emcMhz: 2133 };
    const err = await unary<device.SetPowerModeResponse>((cb) => client.setPowerMode({ mode: offGrid, settleS: 0 }, cb)).then(
      () => assert.fail('expected INVALID_ARGUMENT'),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /grid/);
    const raw = err.metadata.get(ERROR_DETAIL_METADATA_KEY);
    assert.equal(raw.length, 1);
    const detail = common.ErrorDetail.decode(raw[0] as Buffer);
    assert.deepEqual(detail, { field: 'mode', reason: 'not on the device grid' });
    assert.deepEqual((await unary<device.GetPowerModeResponse>((cb) => client.getPowerMode({}, cb))).mode, initial.mode); // unchanged
  });

  it('StreamTelemetry streams max_samples ordered samples then ends', async () => {
    const samples: device.StreamTelemetryResponse[] = [];
    for await (const s of client.streamTelemetry({ intervalMs: 2, maxSamples: 4 })) {
      samples.push(s as device.StreamTelemetryResponse);
    }
    assert.deepEqual(
      samples.map((s) => s.seq),
      [0, 1, 2, 3],
    );
    for (const s of samples) {
      assert.ok(s.measuredAt instanceof Date);
      assert.equal(s.powerW, 10 + s.seq);
      assert.equal(s.rails[0]?.rail, 'VDD_GPU_SOC');
      assert.deepEqual(s.mode, current);
    }
  });

  it('StreamTelemetry with no limit runs until the client cancels', async () => {
    const call = client.streamTelemetry({ intervalMs: 2, maxSamples: 0 });
    const seen: number[] = [];
    const ended = new Promise<ServiceError>((resolve) => call.on('error', (e: ServiceError) => resolve(e)));
    call.on('data', (s: device.StreamTelemetryResponse) => {
      seen.push(s.seq);
      if (seen.length === 3) call.cancel();
    });
    const err = await ended;
    assert.equal(err.code, status.CANCELLED);
    assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
    await telemetryCancelled; // the server saw the cancellation and stopped its timer
  });
});
