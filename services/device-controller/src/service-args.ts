/**
 * Command-line flags for a service process: every config key is a flag (`--grpc.port=50051`,
 * `--hard-cap-w 40`, `--telemetry.publish-interval-ms=500`; camelCase or kebab-case segments), plus
 * `--config FILE`. Flags override env (`FULCRUM_…`), which overrides the file (@fulcrum/runtime).
 */
import type { ConfigSource, LoadConfigOptions, LoadedConfig } from '@fulcrum/runtime';

/** `--key=value`, `--key value` and a bare `--flag` (true); `--config FILE` apart. */
export function parseServiceArgs(argv: readonly string[]): { flags: Record<string, string>; file?: string | undefined } {
  const flags: Record<string, string> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new Error(`unexpected argument ${JSON.stringify(arg)} (flags are --key=value)`);
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const next = argv[i + 1];
    const value = eq > 0 ? arg.slice(eq + 1) : next !== undefined && !next.startsWith('--') ? (i++, next) : 'true';
    if (key === 'config') file = value;
    else flags[key] = value;
  }
  return { flags, file };
}

const normalize = (flag: string): string => flag.replace(/^--/u, '').replace(/-([a-z0-9])/gu, (_, c: string) => c.toUpperCase());

/** Loads a service config from argv (+ env + file); throws naming any flag that is no config key. */
export function configFromArgs<T>(load: (options: LoadConfigOptions) => LoadedConfig<T>, argv: readonly string[], env?: Readonly<Record<string, string | undefined>>): T {
  const { flags, file } = parseServiceArgs(argv);
  const loaded = load({ flags, ...(file ? { file } : {}), ...(env ? { env } : {}) });
  const used = new Set(Object.values(loaded.sources as Record<string, ConfigSource>).flatMap((s) => (s.layer === 'flag' ? [normalize(s.flag)] : [])));
  const unknown = Object.keys(flags).filter((f) => !used.has(normalize(f)));
  if (unknown.length) throw new Error(`unknown flag${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `--${f}`).join(', ')}`);
  return loaded.config;
}
