export { ConfigError, envVarName, flagName, formatSource, loadConfig } from './config.js';
export { createLogger, LOG_LEVELS, resolveLogLevel, serviceLogger } from './logging.js';

export type { ConfigIssue, ConfigLayer, ConfigSource, LoadConfigOptions, LoadedConfig } from './config.js';
export type { LogDestination, Logger, LoggerOptions, LogLevel } from './logging.js';
