/**
 * The domain errors of a controller node. What a backend throws (a cap refusal, a rejected or
 * mismatched knob write, the helper gone or refusing) becomes a `DeviceControlError` of one
 * `kind` with the same message and the original as `cause`; the gRPC adapter maps each kind to
 * its status. A `ValidationError` (off the grid, a bad settle time) stays what it is.
 */
import { HelperError } from './helper/client.js';
import { KnobMismatchError, KnobWriteError } from './knobs.js';
import { PowerCapError } from './power-cap.js';

/**
 * * `refused` — the mode's known power is over the hard cap (nothing was written);
 * * `aborted` — the board rejected a write or read back another value (rolled back);
 * * `unavailable` — the helper or the sensors cannot be reached now;
 * * `permission-denied` — the helper refuses this process.
 */
export type DeviceControlErrorKind = 'refused' | 'aborted' | 'unavailable' | 'permission-denied';

export class DeviceControlError extends Error {
  override readonly name = 'DeviceControlError';
  constructor(
    readonly kind: DeviceControlErrorKind,
    message: string,
    /** The request field at fault (`mode`), when there is one. */
    readonly field?: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDeviceControlError(err: unknown): err is DeviceControlError {
  return err instanceof DeviceControlError;
}

/** A backend's error as a domain error (the rest unchanged). */
export function toDeviceControlError(err: unknown): unknown {
  if (err instanceof PowerCapError) return new DeviceControlError('refused', err.message, 'mode', { cause: err });
  if (err instanceof KnobMismatchError || err instanceof KnobWriteError) return new DeviceControlError('aborted', err.message, 'mode', { cause: err });
  if (err instanceof HelperError) {
    if (err.code === 'UNAVAILABLE') return new DeviceControlError('unavailable', err.message, undefined, { cause: err });
    if (err.code === 'PERMISSION_DENIED') return new DeviceControlError('permission-denied', err.message, undefined, { cause: err });
  }
  return err;
}
