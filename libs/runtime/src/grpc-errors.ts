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
 * Maps what a handler threw onto a gRPC status: a ValidationError becomes INVALID_ARGUMENT with
 * the field in an `ErrorDetail` trailer; anything unexpected becomes INTERNAL (and is logged by
 * the caller), never a crash.
 */
export function toGrpcError(err: unknown): GrpcErrorLike {
  if (err instanceof ValidationError) return withDetail(status.INVALID_ARGUMENT, err.message, err.field, err.reason);
  if (err instanceof GrpcStatusError) return withDetail(err.code, err.message, err.field ?? '', err.message);
  if (isServiceError(err)) return { code: err.code, details: err.details, metadata: err.metadata };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: `internal error: ${message}` };
}

function withDetail(code: status, details: string, field: string, reason: string): GrpcErrorLike {
  const metadata = new Metadata();
  metadata.set(ERROR_DETAIL_METADATA_KEY, Buffer.from(common.ErrorDetail.encode({ field, reason }).finish()));
  return { code, details, metadata };
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
