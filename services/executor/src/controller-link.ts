/**
 * The executor's client of the device-controller (`fulcrum.device.v1.DeviceController`) on
 * runtime's `GrpcConnection`: every call has a deadline and waits for the connection within it
 * (gRPC wait-for-ready: a controller that is restarting is picked up as soon as it listens), and
 * is retried with backoff while the controller is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED) a
 * bounded number of times; then it fails with UNAVAILABLE naming the controller. Worst case:
 * `attempts × timeoutS` plus the backoff.
 */
import { status } from '@grpc/grpc-js';
import type { PowerMode } from '@fulcrum/core';
import { device as pb, deviceInfoFromProto, powerModeFromProto, powerModeToProto, type DeviceInfo } from '@fulcrum/proto/internal';
import { GrpcConnection, connectionOptions, type Logger, type PeerConfig } from '@fulcrum/runtime/internal';

export interface ControllerLinkOptions {
  /** The `controller` section of the executor's config (runtime's peer section). */
  readonly config: PeerConfig;
  readonly logger?: Logger | undefined;
  /** Called after each failed try (metrics). */
  readonly onFailure?: (method: string, err: unknown) => void;
}

export class DeviceControllerLink {
  readonly address: string;
  private readonly conn: GrpcConnection<pb.DeviceControllerClient>;

  constructor(options: ControllerLinkOptions) {
    this.address = options.config.address;
    this.conn = new GrpcConnection(pb.DeviceControllerClient, {
      ...connectionOptions('device-controller', options.config),
      retryOn: [status.UNAVAILABLE, status.DEADLINE_EXCEEDED],
      waitForReady: true,
      logger: options.logger,
      onFailure: options.onFailure,
    });
  }

  async getMode(): Promise<PowerMode> {
    const res = await this.conn.unary<pb.GetPowerModeResponse>('GetPowerMode', (c, md, o, cb) => c.getPowerMode({}, md, o, cb));
    return this.conn.decode('GetPowerMode', () => powerModeFromProto(res.mode, 'mode'));
  }

  /** Switches and returns the read-back (INVALID_ARGUMENT / FAILED_PRECONDITION pass through as the controller sent them). */
  async setMode(mode: PowerMode, settleS = 0): Promise<{ mode: PowerMode; previousMode: PowerMode | undefined; switchS: number }> {
    const res = await this.conn.unary<pb.SetPowerModeResponse>(
      'SetPowerMode',
      (c, md, o, cb) => c.setPowerMode(pb.SetPowerModeRequest.fromPartial({ mode: powerModeToProto(mode), settleS }), md, o, cb),
      { extraMs: settleS * 1000 },
    );
    return this.conn.decode('SetPowerMode', () => ({ mode: powerModeFromProto(res.mode, 'mode'), previousMode: res.previousMode ? powerModeFromProto(res.previousMode, 'previousMode') : undefined, switchS: res.switchS }));
  }

  async info(): Promise<DeviceInfo> {
    const res = await this.conn.unary<pb.GetDeviceInfoResponse>('GetDeviceInfo', (c, md, o, cb) => c.getDeviceInfo({}, md, o, cb));
    return this.conn.decode('GetDeviceInfo', () => deviceInfoFromProto(res.info));
  }

  close(): void {
    this.conn.close();
  }
}
