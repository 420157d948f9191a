/**
 * @fulcrum/runtime — what a Node program needs around the Fulcrum services: loggers, layered
 * configuration, closing things in order, and calling a service over gRPC.
 *
 * Main entry points:
 * - `createLogger` (pino; `LOG_LEVELS`) for the `logger` the services' deps take;
 * - `loadConfig` (defaults < file < environment < flags, `ConfigError` naming the source);
 * - `CleanupStack` and `closeOnSignals` to close what was started, last first;
 * - `GrpcConnection`, the one gRPC client (address, token, TLS, deadline, keepalive, retry), and
 *   the errors a call throws (`GrpcStatusError`, `isServiceError`, `errorField`).
 *
 * The kit the services are built from (gRPC server, health, /metrics, config schemas, service
 * flags, the raw client helpers tests use: `clientSecurity`, `unaryCall`) is in
 * `@fulcrum/runtime/internal`.
 */
export { ConfigError, loadConfig } from './config.js';
export type { LoadConfigOptions, LoadedConfig } from './config.js';
export { createLogger, LOG_LEVELS } from './logging.js';
export type { Logger, LoggerOptions, LogLevel } from './logging.js';
export { CleanupStack } from './cleanup.js';
export { closeOnSignals } from './service.js';
export type { RunningService } from './service.js';
export { GrpcConnection } from './connection.js';
export type { ConnectionOptions } from './connection.js';
export { GrpcStatusError, isServiceError, errorField } from './grpc-errors.js';
