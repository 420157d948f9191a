/**
 * What the profiler needs from the board, as two small ports: the device-controller (device info,
 * mode switch, power telemetry) and the executor (one measurement run). The gRPC implementations
 * below are what the service uses; an embedding program can pass its own (in-process) ones.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { POWER_MODE_KNOBS, type PowerMode, type PowerModeGrid, type WorkloadKind } from '@fulcrum/core';
import { common, device, executor } from '@fulcrum/proto';
import { GrpcStatusError } from '@fulcrum/runtime';
import type { Logger } from 'pino';
import type { PeerConfig, RetryConfig } from './config.js';
import { callPeer, peerChannel, peerUnavailable, reconnectingClient, type PeerCallContext } from './grpc-peer.js';

/** The part of the controller's DeviceInfo the profiler uses. */
export interface ControllerDeviceInfo {
  /** Device id, e.g. `orin-agx`: the `device` of every profile key. */
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

export interface MeasurementRun {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly warmupMinibatches: number;
  readonly measuredMinibatches: number;
}

export interface MeasurementOutcome {
  /** n measured minibatch times, milliseconds. */
  readonly minibatchTimesMs: readonly number[];
  /** The measured window on the board's clock (epoch ms). */
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly softwareStack: string;
  readonly runner: string;
}

export interface ExecutorPort {
  runMeasurement(run: MeasurementRun): Promise<MeasurementOutcome>;
  close?(): void;
}

export const toProtoKind = (kind: WorkloadKind): common.WorkloadKind =>
  kind === 'train' ? common.WorkloadKind.WORKLOAD_KIND_TRAIN : common.WorkloadKind.WORKLOAD_KIND_INFER;

export function fromProtoMode(mode: common.PowerMode): PowerMode {
  return { cores: mode.cores, cpuMhz: mode.cpuMhz, gpuMhz: mode.gpuMhz, emcMhz: mode.emcMhz };
}

function fromProtoGrid(grid: common.PowerModeGrid | undefined): PowerModeGrid {
  return { cores: grid?.cores ?? [], cpuMhz: grid?.cpuMhz ?? [], gpuMhz: grid?.gpuMhz ?? [], emcMhz: grid?.emcMhz ?? [] };
}

export interface GrpcPeerOptions {
  readonly config: PeerConfig;
  readonly retry: RetryConfig;
  readonly logger?: Logger | undefined;
  readonly onRetry?: ((peer: string) => void) | undefined;
}

/** The device-controller over gRPC. */
export function grpcDeviceController(options: GrpcPeerOptions): DeviceControllerPort {
  const { credentials, options: channelOptions } = peerChannel(options.config);
  const clients = reconnectingClient(() => new device.DeviceControllerClient(options.config.address, credentials, channelOptions));
  const ctx: PeerCallContext = { peer: 'device-controller', address: options.config.address, retry: options.retry, logger: options.logger, onRetry: options.onRetry, reconnect: clients.reconnect };
  const timeoutMs = options.config.timeoutS * 1000;
  return {
    async getDeviceInfo() {
      const res = await callPeer<device.GetDeviceInfoResponse>(ctx, 'GetDeviceInfo', timeoutMs, (md, o, cb) => clients.current.getDeviceInfo({}, md, o, cb));
      const info = res.info;
      if (!info?.device) throw new GrpcStatusError(status.INTERNAL, `device-controller at ${ctx.address} sent no device id in GetDeviceInfo`);
      const grid = fromProtoGrid(info.grid);
      if (POWER_MODE_KNOBS.some((k) => grid[k].length === 0)) throw new GrpcStatusError(status.INTERNAL, `device-controller at ${ctx.address} sent an empty grid`);
      return { device: info.device, softwareStack: info.softwareStack, grid };
    },
    async setPowerMode(mode, settleS) {
      // The controller waits out the settle time before it answers: give the deadline that much more.
      const res = await callPeer<device.SetPowerModeResponse>(ctx, 'SetPowerMode', timeoutMs + settleS * 1000, (md, o, cb) =>
        clients.current.setPowerMode(device.SetPowerModeRequest.fromPartial({ mode, settleS }), md, o, cb),
      );
      return { mode: res.mode ? fromProtoMode(res.mode) : mode, switchS: res.switchS };
    },
    streamTelemetry(intervalMs) {
      const samples: PowerSample[] = [];
      const waiters = new Set<{ atMs: number; resolve: () => void }>();
      let failure: unknown;
      let ended = false;
      let markFirst!: () => void;
      const firstSample = new Promise<void>((resolve) => (markFirst = resolve));
      const call = clients.current.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ intervalMs, maxSamples: 0 }));
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
        samples.push({ atMs: s.measuredAt ? s.measuredAt.getTime() : Date.now(), powerW: s.powerW, mode: s.mode ? fromProtoMode(s.mode) : undefined });
        markFirst();
        wake();
      });
      call.on('error', (err: ServiceError) => {
        ended = true;
        if (err.code !== status.CANCELLED) failure = peerUnavailable(ctx, err);
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
    close: () => clients.close(),
  };
}

/** The executor's measurement runs over gRPC. */
export function grpcExecutor(options: GrpcPeerOptions): ExecutorPort {
  const { credentials, options: channelOptions } = peerChannel(options.config);
  const clients = reconnectingClient(() => new executor.ExecutorClient(options.config.address, credentials, channelOptions));
  const ctx: PeerCallContext = { peer: 'executor', address: options.config.address, retry: options.retry, logger: options.logger, onRetry: options.onRetry, reconnect: clients.reconnect };
  const timeoutMs = options.config.timeoutS * 1000;
  return {
    async runMeasurement(run) {
      const res = await callPeer<executor.RunMeasurementResponse>(ctx, 'RunMeasurement', timeoutMs, (md, o, cb) =>
        clients.current.runMeasurement(
          executor.RunMeasurementRequest.fromPartial({
            workload: { name: run.workload, kind: toProtoKind(run.kind) },
            batchSize: run.batchSize,
            warmupMinibatches: run.warmupMinibatches,
            measuredMinibatches: run.measuredMinibatches,
          }),
          md,
          o,
          cb,
        ),
      );
      if (res.minibatchTimesMs.length === 0 || !res.windowStart || !res.windowEnd) {
        throw new GrpcStatusError(status.INTERNAL, `executor at ${ctx.address} returned a measurement without minibatch times or window`);
      }
      return {
        minibatchTimesMs: res.minibatchTimesMs,
        windowStartMs: res.windowStart.getTime(),
        windowEndMs: res.windowEnd.getTime(),
        softwareStack: res.softwareStack,
        runner: res.runner,
      };
    },
    close: () => clients.close(),
  };
}
