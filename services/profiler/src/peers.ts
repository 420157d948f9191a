/**
 * What the profiler needs from the board, as two small ports: the device-controller (device info,
 * mode switch, power telemetry) and the executor (one measurement run). The gRPC implementations
 * below are what the service uses; an embedding program can pass its own (in-process) ones.
 */
import { status, type Client, type ServiceError } from '@grpc/grpc-js';
import type { PowerMode, PowerModeGrid } from '@fulcrum/core';
import {
  device,
  executor,
  powerModeFromProto,
  powerModeToProto,
} from '@fulcrum/proto';
import {
  deviceInfoFromProto,
  measurementOutcomeFromProto,
  measurementRunToProto,
  optionalPowerModeFromProto,
  type MeasurementOutcome,
  type MeasurementRun,
} from '@fulcrum/proto/internal';
import { GrpcConnection } from '@fulcrum/runtime';
import { connectionOptions, type GrpcClientConstructor, type PeerConfig } from '@fulcrum/runtime/internal';
import type { Logger } from 'pino';

/** The part of the controller's DeviceInfo the profiler uses. */
export interface ControllerDeviceInfo {
  /** The board's id: profile.completed goes out on `fulcrum.<board>.profile.completed`. */
  readonly board: string;
  /** Device model id, e.g. `orin-agx`: the `device` of every profile key (shared by every board of the model). */
  readonly device: string;
  /** Software stack the controller reports (used when the profiler's config sets none). */
  readonly softwareStack: string;
  /** The modes the controller accepts. */
  readonly grid: PowerModeGrid;
}

/** One power sample of the controller's telemetry. */
export interface PowerSample {
  /** Board clock, epoch milliseconds. */
  readonly atMs: number;
  readonly powerW: number;
  /** The mode the knobs were in, when the controller says. */
  readonly mode?: PowerMode | undefined;
}

/** A live telemetry subscription; samples accumulate until `close()`. */
export interface TelemetryStream {
  /** Every sample received so far, in arrival order. */
  readonly samples: readonly PowerSample[];
  /** Resolves at the first sample, or when the stream ends or fails (then `failure` is set). */
  readonly firstSample: Promise<void>;
  /** Why the stream ended early (a gRPC error), if it did. */
  readonly failure: unknown;
  /** Waits until a sample at or after `atMs` arrives, or `timeoutMs` passes. */
  waitUntil(atMs: number, timeoutMs: number): Promise<void>;
  close(): void;
}

export interface DeviceControllerPort {
  getDeviceInfo(): Promise<ControllerDeviceInfo>;
  /** Switches and waits `settleS` (the controller waits); `switchS` is the time it reports for both. */
  setPowerMode(mode: PowerMode, settleS: number): Promise<{ readonly mode: PowerMode; readonly switchS: number }>;
  streamTelemetry(intervalMs: number): TelemetryStream;
  close?(): void;
}

export type { MeasurementRun, MeasurementOutcome };

export interface ExecutorPort {
  /** `signal` cancels the measurement (the executor stops it and frees the GPU). */
  runMeasurement(run: MeasurementRun, options?: { readonly signal?: AbortSignal | undefined }): Promise<MeasurementOutcome>;
  close?(): void;
}

export interface GrpcPeerOptions {
  readonly config: PeerConfig;
  readonly logger?: Logger | undefined;
  /** Called once per retry (metrics). */
  readonly onRetry?: ((peer: string) => void) | undefined;
}

/** A connection to one peer; UNAVAILABLE and CANCELLED (a peer shutting down cancels its calls) are retried. */
function peerConnection<C extends Client>(Ctor: GrpcClientConstructor<C>, peer: string, options: GrpcPeerOptions): GrpcConnection<C> {
  return new GrpcConnection(Ctor, {
    ...connectionOptions(peer, options.config),
    retryOn: [status.UNAVAILABLE, status.CANCELLED],
    logger: options.logger,
    onRetry: () => options.onRetry?.(peer),
  });
}

/** The device-controller over gRPC. */
export function grpcDeviceController(options: GrpcPeerOptions): DeviceControllerPort {
  const conn = peerConnection(device.DeviceControllerClient, 'device-controller', options);
  return {
    async getDeviceInfo() {
      const res = await conn.unary<device.GetDeviceInfoResponse>('GetDeviceInfo', (c, md, o, cb) => c.getDeviceInfo({}, md, o, cb));
      const info = conn.decode('GetDeviceInfo', () => deviceInfoFromProto(res.info));
      return { board: info.board, device: info.device, softwareStack: info.softwareStack, grid: info.grid };
    },
    async setPowerMode(mode, settleS) {
      // The controller waits out the settle time before it answers: give the deadline that much more.
      const res = await conn.unary<device.SetPowerModeResponse>(
        'SetPowerMode',
        (c, md, o, cb) => c.setPowerMode(device.SetPowerModeRequest.fromPartial({ mode: powerModeToProto(mode), settleS }), md, o, cb),
        { extraMs: settleS * 1000 },
      );
      return { mode: conn.decode('SetPowerMode', () => powerModeFromProto(res.mode, 'mode')), switchS: res.switchS };
    },
    streamTelemetry(intervalMs) {
      const samples: PowerSample[] = [];
      const waiters = new Set<{ atMs: number; resolve: () => void }>();
      let failure: unknown;
      let ended = false;
      let markFirst!: () => void;
      const firstSample = new Promise<void>((resolve) => (markFirst = resolve));
      const call = conn.client.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ intervalMs, maxSamples: 0 }), conn.metadata());
      const wake = (): void => {
        for (const w of waiters) {
          const last = samples[samples.length - 1];
          if (ended || (last && last.atMs >= w.atMs)) {
            waiters.delete(w);
            w.resolve();
          }
        }
      };
      call.on('data', (s: device.StreamTelemetryResponse) => {
        samples.push({ atMs: s.measuredAt ? s.measuredAt.getTime() : Date.now(), powerW: s.powerW, mode: optionalPowerModeFromProto(s.mode, 'mode') });
        markFirst();
        wake();
      });
      call.on('error', (err: ServiceError) => {
        ended = true;
        if (err.code !== status.CANCELLED) failure = conn.unavailable(err);
        markFirst();
        wake();
      });
      call.on('end', () => {
        ended = true;
        markFirst();
        wake();
      });
      return {
        samples,
        firstSample,
        get failure() {
          return failure;
        },
        waitUntil(atMs, waitMs) {
          const last = samples[samples.length - 1];
          if (ended || (last && last.atMs >= atMs)) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const w = { atMs, resolve };
            waiters.add(w);
            setTimeout(() => {
              waiters.delete(w);
              resolve();
            }, waitMs).unref();
          });
        },
        close() {
          ended = true;
          call.cancel();
          wake();
        },
      };
    },
    close: () => conn.close(),
  };
}

/** The executor's measurement runs over gRPC. */
export function grpcExecutor(options: GrpcPeerOptions): ExecutorPort {
  const conn = peerConnection(executor.ExecutorClient, 'executor', options);
  return {
    async runMeasurement(run, options = {}) {
      const res = await conn.unary<executor.RunMeasurementResponse>('RunMeasurement', (c, md, o, cb) => c.runMeasurement(measurementRunToProto(run), md, o, cb), { signal: options.signal });
      return conn.decode('RunMeasurement', () => measurementOutcomeFromProto(res));
    },
    close: () => conn.close(),
  };
}
