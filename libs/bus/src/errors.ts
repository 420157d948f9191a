/**
 * Transport failures of the bus. Bad payloads are `ValidationError`s (`MalformedEventError`);
 * everything here is about reaching the other side.
 */
export const BUS_ERROR_CODES = ['unavailable', 'timeout', 'no-responders', 'closed', 'invalid-reply'] as const;

/**
 * - `unavailable`: NATS is unreachable or reconnecting, or JetStream did not acknowledge in
 *   time. Retry later (gRPC `UNAVAILABLE`).
 * - `timeout`: a request got no reply within its timeout (gRPC `DEADLINE_EXCEEDED`).
 * - `no-responders`: nobody serves the request subject right now (gRPC `UNAVAILABLE`).
 * - `closed`: this bus was closed; it will not come back.
 * - `invalid-reply`: the responder answered something that is not a valid reply.
 */
export type BusErrorCode = (typeof BUS_ERROR_CODES)[number];

export class BusError extends Error {
  override readonly name = 'BusError';
  readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /** Whether trying again later can succeed (everything but `closed` and `invalid-reply`). */
  get retryable(): boolean {
    return this.code === 'unavailable' || this.code === 'timeout' || this.code === 'no-responders';
  }
}

export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}
