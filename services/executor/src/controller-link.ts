/**
 * The executor's client of the device-controller (`fulcrum.device.v1.DeviceController`): every
 * call has a deadline and waits for the connection within it (gRPC wait-for-ready: a controller
 * that is restarting is picked up as soon as it listens), and is retried with backoff while the
 * controller is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED) a bounded number of times; then it
 * fails with UNAVAILABLE naming the controller. Worst case: `attempts × timeoutMs` plus the
 * backoff. The channel redials at most `maxBackoffMs` apart (grpc's default is up to 2 minutes).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { PowerMode } from '@fulcrum/core';
import { device as pb } from '@fulcrum/proto';
import { GrpcStatusError, clientSecurity, isServiceError, unaryCall, withRetry, type Logger } from '@fulcrum/runtime';

export interface ControllerLinkOptions {
  /** `host:port` of the device-controller. */
  readonly address: string;
  readonly token?: string | undefined;
  /** PEM CA that signed the controller's certificate: use TLS. */
  readonly tlsCa?: string | undefined;
  /** Client certificate and key for mutual TLS. */
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** Deadline of one call, ms. Default 2000. */
  readonly timeoutMs?: number;
  /** Tries per operation, the first included. Default 3. */
  readonly attempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly logger?: Logger | undefined;
  /** Called after each failed try (metrics). */
  readonly onFailure?: (method: string, err: unknown) => void;
}

const waitForReady = (): Metadata => new Metadata({ waitForReady: true });

const retryable = (err: unknown): boolean => isServiceError(err) && (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED);

export class DeviceControllerLink {
  readonly client: pb.DeviceControllerClient;
  readonly address: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;

  constructor(private readonly options: ControllerLinkOptions) {
    this.address = options.address;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attempts = options.attempts ?? 3;
    const tls = options.tlsCa || options.tlsCert ? { caFile: options.tlsCa, certFile: options.tlsCert, keyFile: options.tlsKey } : undefined;
    const { credentials, options: clientOptions } = clientSecurity({ token: options.token, tls });
    const maxBackoff = options.maxBackoffMs ?? 1000;
    this.client = new pb.DeviceControllerClient(options.address, credentials, {
      ...clientOptions,
      // A restarted controller should be found within about a second, not grpc's default 2 minutes.
      'grpc.initial_reconnect_backoff_ms': Math.min(100, maxBackoff),
      'grpc.max_reconnect_backoff_ms': maxBackoff,
    });
  }

  private async call<T>(method: string, invoke: (options: { deadline: Date }, callback: (err: ServiceError | null, res?: T) => void) => unknown, extraMs = 0): Promise<T> {
    try {
      return await withRetry(
        () =>
          unaryCall<T>(invoke, this.timeoutMs + extraMs).catch((err: unknown) => {
            this.options.onFailure?.(method, err);
            throw err;
          }),
        {
          attempts: this.attempts,
          initialDelayMs: this.options.initialBackoffMs ?? 100,
          maxDelayMs: this.options.maxBackoffMs ?? 1000,
          retryable,
          onRetry: (err, attempt, delayMs) =>
            this.options.logger?.warn({ controller: this.address, method, attempt, delayMs: Math.round(delayMs), err: isServiceError(err) ? err.details : String(err) }, 'device-controller unreachable; retrying'),
        },
      );
    } catch (err) {
      if (retryable(err)) {
        const e = err as ServiceError;
        throw new GrpcStatusError(status.UNAVAILABLE, `device-controller at ${this.address} is unavailable (${method}, ${this.attempts} attempts): ${e.details}`);
      }
      throw err;
    }
  }

  async getMode(): Promise<PowerMode> {
    const res = await this.call<pb.GetPowerModeResponse>('GetPowerMode', (o, cb) => this.client.getPowerMode({}, waitForReady(), o, cb));
    if (!res.mode) throw new GrpcStatusError(status.INTERNAL, `device-controller at ${this.address} answered GetPowerMode without a mode`);
    return { ...res.mode };
  }

  /** Switches and returns the read-back (INVALID_ARGUMENT / FAILED_PRECONDITION pass through as the controller sent them). */
  async setMode(mode: PowerMode, settleS = 0): Promise<{ mode: PowerMode; previousMode: PowerMode | undefined; switchS: number }> {
    const res = await this.call<pb.SetPowerModeResponse>(
      'SetPowerMode',
      (o, cb) => this.client.setPowerMode(pb.SetPowerModeRequest.fromPartial({ mode, settleS }), waitForReady(), o, cb),
      settleS * 1000,
    );
    return { mode: res.mode ? { ...res.mode } : mode, previousMode: res.previousMode ? { ...res.previousMode } : undefined, switchS: res.switchS };
  }

  async info(): Promise<pb.DeviceInfo | undefined> {
    return (await this.call<pb.GetDeviceInfoResponse>('GetDeviceInfo', (o, cb) => this.client.getDeviceInfo({}, waitForReady(), o, cb))).info;
  }

  close(): void {
    this.client.close();
  }
}
