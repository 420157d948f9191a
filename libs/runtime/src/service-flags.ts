/**
 * Command-line flags of a service process, for every service the same way: each config key is a
 * flag (`--grpc.port=50051`, `--grpc.port 50051`, `--hard-cap-w 40`, a bare `--flag` for `true`;
 * segments in kebab-case or camelCase), plus `--config FILE`. The flags go through the service's
 * zod schema with `loadConfig`'s precedence: flags > env (`FULCRUM_…`) > file > defaults.
 *
 *   const { config } = parseServiceFlags(profilerConfigSchema, process.argv.slice(2));
 *
 * Anything wrong — an unknown flag, a bad value, an unreadable file — is a `ConfigError` whose
 * message names the flag (or env var, or file key); a process entry prints it and exits 2.
 */
import type { z } from 'zod';
import { ConfigError, loadConfig, type ConfigSource, type LoadConfigOptions, type LoadedConfig } from './config.js';

/** Flags as given (`{ 'grpc.port': '0' }`, keys without the leading `--`) and the `--config` file. */
export interface FlagArgs {
  readonly flags: Record<string, string>;
  readonly file?: string | undefined;
}

/** `--key=value`, `--key value` and a bare `--flag` (`'true'`); `--config FILE` apart. Throws `ConfigError`. */
export function parseFlagArgs(argv: readonly string[]): FlagArgs {
  const flags: Record<string, string> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new ConfigError([{ message: `unexpected argument ${JSON.stringify(arg)} (flags are --key=value or --key value)` }]);
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const next = argv[i + 1];
    const hasValue = eq > 0 || (next !== undefined && !next.startsWith('--'));
    const value = eq > 0 ? arg.slice(eq + 1) : hasValue ? (i++, next!) : 'true';
    if (key === '') throw new ConfigError([{ message: `unexpected argument ${JSON.stringify(arg)}` }]);
    if (key === 'config') {
      if (!hasValue || value === '') throw new ConfigError([{ message: 'flag --config needs a file (--config FILE)' }]);
      file = value;
    } else {
      flags[key] = value;
    }
  }
  return { flags, file };
}

/** `hard-cap-w`, `hardCapW`, `--hard-cap-w` → one spelling, to compare flags with config keys. */
function normalizeFlag(flag: string): string {
  return flag
    .replace(/^--/u, '')
    .split('.')
    .map((s) => s.replace(/-([a-z0-9])/gu, (_, c: string) => c.toUpperCase()))
    .join('.');
}

/** The flags (keys of `flags`) that set no config key of a `loadConfig` result. */
export function unknownFlags(flags: Readonly<Record<string, unknown>>, sources: Readonly<Record<string, ConfigSource>>): string[] {
  const used = new Set(Object.values(sources).flatMap((s) => (s.layer === 'flag' ? [normalizeFlag(s.flag)] : [])));
  return Object.keys(flags).filter((f) => flags[f] !== undefined && !used.has(normalizeFlag(f)));
}

/** A `ConfigError` naming unknown flags (`--hard-cap-watts`), or undefined when there are none. */
export function unknownFlagsError(unknown: readonly string[], hint?: string): ConfigError | undefined {
  if (unknown.length === 0) return undefined;
  const names = unknown.map((f) => `--${f}`).join(', ');
  return new ConfigError([{ message: `unknown flag${unknown.length > 1 ? 's' : ''} ${names}${hint ? ` (${hint})` : ''}` }]);
}

export interface ServiceFlagsOptions {
  /** Environment to read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flags set by other means (a CLI's own options, e.g. `--nats URL` → `{ 'nats.url': URL }`); argv's win. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  /** Config file when argv has no `--config`. */
  readonly file?: string | undefined;
  /**
   * Values that replace the schema's defaults (dotted keys): a layer under file, env and flags, for
   * a caller with other sensible defaults (the embedded demo's short settle time). Reported as
   * `default` in `sources`.
   */
  readonly defaults?: Readonly<Record<string, unknown>>;
  /** Said after the unknown flags in the error (`see fulcrum serve --help`). */
  readonly unknownFlagHint?: string;
}

/**
 * argv → the service's config through its schema (flags > env > file > defaults). Throws
 * `ConfigError` naming the flag, env var or file key at fault; an unknown flag is an error.
 */
export function parseServiceFlags<S extends z.ZodObject>(schema: S, argv: readonly string[], options: ServiceFlagsOptions = {}): LoadedConfig<z.output<S>> {
  const args = parseFlagArgs(argv);
  const flags: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.flags ?? {})) if (v !== undefined) flags[k] = v;
  Object.assign(flags, args.flags);
  const file = args.file ?? options.file;
  const base: LoadConfigOptions = { flags, ...(file ? { file } : {}), ...(options.env ? { env: options.env } : {}) };
  let loaded = loadConfig(schema, base);
  const error = unknownFlagsError(unknownFlags(flags, loaded.sources), options.unknownFlagHint);
  if (error) throw error;
  const defaults = Object.entries(options.defaults ?? {}).filter(([key]) => (loaded.sources[key]?.layer ?? 'default') === 'default');
  if (defaults.length === 0) return loaded;
  // Second pass: the caller's defaults go in as flags for the keys nothing else set.
  const replaced = new Set(defaults.map(([key]) => key));
  loaded = loadConfig(schema, { ...base, flags: { ...Object.fromEntries(defaults), ...flags } });
  const sources: Record<string, ConfigSource> = {};
  for (const [key, source] of Object.entries(loaded.sources)) sources[key] = replaced.has(key) ? { layer: 'default' } : source;
  return { ...loaded, sources };
}
