/**
 * The device-controller's gRPC adapter (`fulcrum.device.v1.DeviceController`): requests to a
 * `DeviceControllerNode` through the one conversion module of `@fulcrum/proto`, results back, and
 * the node's domain errors as gRPC statuses (a ValidationError goes through runtime's mapping:
 * INVALID_ARGUMENT naming the field).
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { device as pb, powerModeFromProto, powerModeToProto } from '@fulcrum/proto';
import { deviceInfoToProto } from '@fulcrum/proto/internal';
import { GrpcStatusError, type Logger } from '@fulcrum/runtime';
import { callSignal, serverStream, unary } from '@fulcrum/runtime/internal';
import { DeviceControlError, type DeviceControlErrorKind } from './errors.js';
import type { DeviceControllerNode, TelemetryReading } from './node.js';

export const DEVICE_CONTROLLER_SERVICE_NAME = 'fulcrum.device.v1.DeviceController';

const STATUS_OF: Record<DeviceControlErrorKind, status> = {
  refused: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  'permission-denied': status.PERMISSION_DENIED,
};

/** A domain error as its gRPC status (the rest goes through runtime's mapping); a call stopped because its caller went away is CANCELLED. */
export function grpcStatusOf(err: unknown): unknown {
  if (err instanceof DeviceControlError) return new GrpcStatusError(STATUS_OF[err.kind], err.message, err.field);
  if (err instanceof Error && err.name === 'AbortError') return new GrpcStatusError(status.CANCELLED, 'cancelled: the call was cancelled (its client went away or its deadline passed)');
  return err;
}

function mapped<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    throw grpcStatusOf(err);
  });
}

function telemetryToProto(s: TelemetryReading): pb.StreamTelemetryResponse {
  return pb.StreamTelemetryResponse.fromPartial({
    measuredAt: s.measuredAt,
    ...(s.mode ? { mode: powerModeToProto(s.mode) } : {}),
    powerW: s.powerW,
    rails: s.rails.map((r) => ({ rail: r.rail, powerW: r.powerW })),
    seq: s.seq,
  });
}

/** The node's telemetry until the call is cancelled. */
async function* telemetryReplies(node: DeviceControllerNode, req: pb.StreamTelemetryRequest, call: ServerWritableStream<pb.StreamTelemetryRequest, pb.StreamTelemetryResponse>): AsyncGenerator<pb.StreamTelemetryResponse> {
  const cancel = callSignal(call);
  try {
    for await (const s of node.telemetry({ intervalMs: req.intervalMs, maxSamples: req.maxSamples, signal: cancel.signal })) yield telemetryToProto(s);
  } catch (err) {
    throw grpcStatusOf(err);
  } finally {
    cancel.dispose();
  }
}

/** The gRPC implementation over a controller node. */
export function deviceControllerGrpcImplementation(node: DeviceControllerNode, logger?: Logger): pb.DeviceControllerServer {
  return {
    getDeviceInfo: unary(async () => pb.GetDeviceInfoResponse.fromPartial({ info: deviceInfoToProto(await node.info()) }), logger),
    setPowerMode: unary(
      (req: pb.SetPowerModeRequest, call) =>
        mapped(async () => {
          // A caller that goes away (cancel, deadline) stops its settle wait: the next switch does not wait it out.
          const cancelled = callSignal(call);
          try {
            const r = await node.setMode(powerModeFromProto(req.mode, 'mode'), { settleS: req.settleS, signal: cancelled.signal });
            return pb.SetPowerModeResponse.fromPartial({ mode: powerModeToProto(r.mode), previousMode: powerModeToProto(r.previousMode), switchS: r.switchS });
          } finally {
            cancelled.dispose();
          }
        }),
      logger,
    ),
    getPowerMode: unary(() => mapped(async () => pb.GetPowerModeResponse.fromPartial({ mode: powerModeToProto(await node.getMode()) })), logger),
    streamTelemetry: serverStream((req: pb.StreamTelemetryRequest, call) => telemetryReplies(node, req, call), logger),
  };
}
