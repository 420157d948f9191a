import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ValidationError } from '@fulcrum/core';
import { ERROR_DETAIL_METADATA_KEY, common } from '@fulcrum/proto';

/** An error a handler throws on purpose, with the gRPC status it should carry. */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';
  constructor(
    readonly code: status,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export type GrpcErrorLike = Partial<ServiceError> & { code: status; details: string };

/**
 * Most UTF-8 bytes of a status message (and of an ErrorDetail's field and reason). The message
 * travels in the `grpc-message` trailer, percent-encoded: a message quoting a 100 KB request
 * value would be a trailer of megabytes, which breaks the HTTP/2 connection — the client sees no
 * status until its deadline, and the other calls on the channel hang with it.
 */
export const MAX_STATUS_MESSAGE_BYTES = 1000;

/** `text` cut to at most `maxBytes` UTF-8 bytes, saying how long it was; unchanged when it fits. */
export function shortStatusMessage(text: string, maxBytes = MAX_STATUS_MESSAGE_BYTES): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
  const suffix = `… (${text.length} characters)`;
  const room = maxBytes - Buffer.byteLength(suffix);
  let cut = text.slice(0, room);
  while (Buffer.byteLength(cut) > room) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  // Never half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + suffix;
}

/**
 * Maps what a handler threw onto a gRPC status: a ValidationError becomes INVALID_ARGUMENT with
 * the field in an `ErrorDetail` trailer; anything unexpected becomes INTERNAL (and is logged by
 * the caller), never a crash. Every message is cut to MAX_STATUS_MESSAGE_BYTES.
 */
export function toGrpcError(err: unknown): GrpcErrorLike {
  if (err instanceof ValidationError) return withDetail(status.INVALID_ARGUMENT, err.message, err.field, err.reason);
  if (err instanceof GrpcStatusError) return withDetail(err.code, err.message, err.field ?? '', err.message);
  if (isServiceError(err)) return { code: err.code, details: shortStatusMessage(err.details ?? ''), metadata: err.metadata };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: shortStatusMessage(`internal error: ${message}`) };
}

function withDetail(code: status, details: string, field: string, reason: string): GrpcErrorLike {
  const metadata = new Metadata();
  metadata.set(ERROR_DETAIL_METADATA_KEY, Buffer.from(common.ErrorDetail.encode({ field: shortStatusMessage(field), reason: shortStatusMessage(reason) }).finish()));
  return { code, details: shortStatusMessage(details), metadata };
}

export function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as ServiceError).code === 'number' && 'details' in err;
}

/** The field a failed call's `ErrorDetail` trailer names, if the server sent one. */
export function errorField(err: ServiceError): string | undefined {
  const raw = err.metadata?.get(ERROR_DETAIL_METADATA_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  return common.ErrorDetail.decode(raw).field || undefined;
}
