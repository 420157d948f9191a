/**
 * Errors that carry the name of the offending field, so every adapter can turn them into a
 * precise answer: gRPC `INVALID_ARGUMENT` with the field, or CLI exit code 2 naming the flag.
 */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  /** Dotted path of the offending input, e.g. `streams[1].arrivalRatePerS`. */
  readonly field: string;
  /** What is wrong with it, without the field name. */
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.field = field;
    this.reason = reason;
  }

  /** The same error under a different field name (e.g. a CLI flag instead of a model path). */
  renamed(field: string): ValidationError {
    return new ValidationError(field, this.reason);
  }
}

export function isValidationError(err: unknown): err is ValidationError {
  return err instanceof ValidationError;
}

/** At most this many characters of a bad value are quoted in an error (a 10 MB value stays out of logs and headers). */
export const MAX_QUOTED_CHARS = 64;

/** Shows a value in an error message the way a user typed it; a long one as its first characters and its length. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, MAX_QUOTED_CHARS))}… (${value.length} characters)`;
  }
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (value === undefined) return 'nothing';
  return String(value);
}

export function requirePositive(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(field, `must be a positive number, got ${describeValue(value)}`);
  }
  return value;
}

export function requireNonNegative(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(field, `must be a number ≥ 0, got ${describeValue(value)}`);
  }
  return value;
}

export function requirePositiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ValidationError(field, `must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}
