/**
 * One configuration scheme for every Fulcrum service and the CLI.
 *
 * Precedence (highest first): flags > env > file > schema defaults.
 *
 * Env naming rule: `<prefix><SEGMENT>__<SEGMENT>...` where each key segment of the
 * schema path is turned from camelCase into UPPER_SNAKE and nested segments are joined
 * with a double underscore: `grpc.port` → `FULCRUM_GRPC__PORT`,
 * `logLevel` → `FULCRUM_LOG_LEVEL`, `profiler.settleMs` → `FULCRUM_PROFILER__SETTLE_MS`.
 * Flag names: `--` + kebab-case segments joined with `.`: `--grpc.port`, `--log-level`.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** The layer a configuration value came from. */
export type ConfigLayer = 'flag' | 'env' | 'file' | 'default';

/** Where one leaf value came from. */
export type ConfigSource =
  | { readonly layer: 'flag'; readonly flag: string }
  | { readonly layer: 'env'; readonly variable: string }
  | { readonly layer: 'file'; readonly file: string; readonly key: string }
  | { readonly layer: 'default' };

/** One problem found while loading configuration. */
export interface ConfigIssue {
  /** Dotted config key (`grpc.port`); absent for problems with the file as a whole. */
  readonly key?: string;
  readonly source?: ConfigSource;
  readonly message: string;
}

export interface LoadConfigOptions {
  /**
   * Values from the command line. Nested objects following the schema, or dotted keys
   * (`'grpc.port'`), segments in camelCase or kebab-case. `undefined` values are skipped, so
   * an unset flag never overrides a lower layer. Strings are coerced like env values.
   * Keys that match no config key are ignored (the CLI parser owns flag validation).
   */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** Environment to read; defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Prefix of config env vars; default `FULCRUM_`. */
  readonly envPrefix?: string;
  /** Config file (.json, .yaml, .yml); if absent, `env[fileEnvVar]` is used. */
  readonly file?: string | undefined;
  /** Env var naming the config file; default `FULCRUM_CONFIG`. */
  readonly fileEnvVar?: string;
}

export interface LoadedConfig<T> {
  /** The parsed, typed configuration. */
  readonly config: T;
  /** For each leaf key (dotted) that has a value: the layer it came from, in schema order. */
  readonly sources: Readonly<Record<string, ConfigSource>>;
  /** The config file that was read, if any. */
  readonly file: string | undefined;
}

/** Thrown by {@link loadConfig}; the message has one line per issue. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

/** `flag --grpc.port`, `env FULCRUM_GRPC__PORT`, `file ./fulcrum.yaml:grpc.port`, `default`. */
export function formatSource(source: ConfigSource): string {
  switch (source.layer) {
    case 'flag':
      return `flag ${source.flag}`;
    case 'env':
      return `env ${source.variable}`;
    case 'file':
      return source.key ? `file ${source.file}:${source.key}` : `file ${source.file}`;
    case 'default':
      return 'default';
  }
}

function formatIssue(issue: ConfigIssue): string {
  const where = [issue.key, issue.source && `from ${formatSource(issue.source)}`].filter(Boolean).join(' ');
  return where ? `config: ${where}: ${issue.message}` : `config: ${issue.message}`;
}

/** Env var name of a config key: `envVarName('grpc.port')` → `FULCRUM_GRPC__PORT`. */
export function envVarName(key: string | readonly string[], prefix = 'FULCRUM_'): string {
  const segments = typeof key === 'string' ? key.split('.') : key;
  return prefix + segments.map((s) => splitWords(s).join('_').toUpperCase()).join('__');
}

/** Flag name of a config key: `flagName('grpc.maxMessageBytes')` → `--grpc.max-message-bytes`. */
export function flagName(key: string | readonly string[]): string {
  const segments = typeof key === 'string' ? key.split('.') : key;
  return '--' + segments.map(kebab).join('.');
}

function splitWords(segment: string): string[] {
  return segment
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_\-.]+/)
    .filter((w) => w !== '');
}

function kebab(segment: string): string {
  return splitWords(segment).join('-').toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Schema introspection

type Schema = z.core.$ZodType;
// zod's def is a tagged union over many schema kinds; we read only the few fields we need.
type Def = { type: string } & Record<string, unknown>;

function defOf(schema: Schema): Def {
  return schema._zod.def as unknown as Def;
}

interface Unwrapped {
  readonly base: Schema;
  /** Undefined is accepted (optional, nullable-with-default, default, prefault, catch). */
  readonly optional: boolean;
  readonly nullable: boolean;
  /** The first `.default()` / `.prefault()` value met on the way down. */
  readonly defaultValue?: () => unknown;
}

/** Strips wrappers (optional, nullable, default, prefault, readonly, catch, pipe input, lazy). */
function unwrap(schema: Schema): Unwrapped {
  let base = schema;
  let optional = false;
  let nullable = false;
  let defaultValue: (() => unknown) | undefined;
  for (let i = 0; i < 64; i++) {
    const def = defOf(base);
    switch (def.type) {
      case 'optional':
        optional = true;
        base = def['innerType'] as Schema;
        continue;
      case 'nullable':
        nullable = true;
        base = def['innerType'] as Schema;
        continue;
      case 'default':
      case 'prefault': {
        optional = true;
        const d = def;
        defaultValue ??= () => d['defaultValue'];
        base = def['innerType'] as Schema;
        continue;
      }
      case 'catch':
        optional = true;
        base = def['innerType'] as Schema;
        continue;
      case 'readonly':
      case 'nonoptional':
        base = def['innerType'] as Schema;
        continue;
      case 'pipe':
        base = def['in'] as Schema;
        continue;
      case 'lazy':
        base = (def['getter'] as () => Schema)();
        continue;
    }
    break;
  }
  return defaultValue ? { base, optional, nullable, defaultValue } : { base, optional, nullable };
}

interface LeafNode {
  readonly kind: 'leaf';
  readonly path: readonly string[];
  readonly schema: Schema;
}

interface ObjectNode {
  readonly kind: 'object';
  readonly path: readonly string[];
  readonly children: ReadonlyMap<string, Node>;
  /** Unknown keys are passed through (z.looseObject / .catchall()). */
  readonly loose: boolean;
  readonly optional: boolean;
  readonly defaultValue?: () => unknown;
}

type Node = LeafNode | ObjectNode;

function buildTree(schema: Schema, path: readonly string[], leaves: LeafNode[], objects: ObjectNode[]): Node {
  const u = unwrap(schema);
  const def = defOf(u.base);
  if (def.type !== 'object') {
    const leaf: LeafNode = { kind: 'leaf', path, schema };
    leaves.push(leaf);
    return leaf;
  }
  const children = new Map<string, Node>();
  const catchall = def['catchall'] as Schema | undefined;
  const node: ObjectNode = {
    kind: 'object',
    path,
    children,
    loose: catchall !== undefined && defOf(catchall).type !== 'never',
    optional: u.optional,
    ...(u.defaultValue ? { defaultValue: u.defaultValue } : {}),
  };
  objects.push(node);
  for (const [key, child] of Object.entries(def['shape'] as Record<string, Schema>)) {
    children.set(key, buildTree(child, [...path, key], leaves, objects));
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Coercion of strings (env values, string flags) to the schema's type

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Best-effort conversion; returns the input unchanged when it cannot convert, so zod reports it. */
function coerce(schema: Schema, raw: unknown): unknown {
  const u = unwrap(schema);
  const def = defOf(u.base);
  if (Array.isArray(raw)) {
    if (def.type !== 'array') return raw;
    const element = def['element'] as Schema;
    return raw.map((item: unknown) => coerce(element, item));
  }
  if (typeof raw !== 'string') return raw;
  const text = raw.trim();
  if (u.nullable && text === 'null') return null;
  switch (def.type) {
    case 'number': {
      if (text === '') return raw;
      const n = Number(text);
      return Number.isNaN(n) ? raw : n;
    }
    case 'bigint':
      try {
        return BigInt(text);
      } catch {
        return raw;
      }
    case 'boolean': {
      const lower = text.toLowerCase();
      return TRUE.has(lower) ? true : FALSE.has(lower) ? false : raw;
    }
    case 'date': {
      const d = new Date(text);
      return Number.isNaN(d.getTime()) ? raw : d;
    }
    case 'null':
      return text === 'null' ? null : raw;
    case 'enum':
    case 'literal': {
      const values: readonly unknown[] =
        def.type === 'enum'
          ? Object.values(def['entries'] as Record<string, unknown>)
          : (def['values'] as readonly unknown[]);
      if (values.includes(raw)) return raw;
      const exact = values.find((v) => String(v) === text);
      if (exact !== undefined) return exact;
      const folded = values.filter((v) => String(v).toLowerCase() === text.toLowerCase());
      return folded.length === 1 ? folded[0] : raw;
    }
    case 'array': {
      const element = def['element'] as Schema;
      if (text.startsWith('[')) {
        const parsed = tryJson(text);
        if (Array.isArray(parsed)) return parsed.map((item: unknown) => coerce(element, item));
      }
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => coerce(element, s));
    }
    case 'union': {
      for (const option of def['options'] as Schema[]) {
        const value = coerce(option, raw);
        if (z.safeParse(option, value).success) return value;
      }
      return raw;
    }
    case 'object':
    case 'record':
    case 'tuple':
    case 'map':
    case 'set':
    case 'intersection':
      return text.startsWith('{') || text.startsWith('[') ? tryJson(text) : raw;
    default:
      return raw;
  }
}

// ---------------------------------------------------------------------------------------------
// Layers

interface Entry {
  readonly path: readonly string[];
  readonly value: unknown;
  readonly source: ConfigSource;
}

type Layer = Map<string, Entry>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

interface WalkContext {
  readonly kind: 'file' | 'flag';
  readonly layer: Layer;
  readonly issues: ConfigIssue[];
  readonly unknown: string[];
  readonly source: (path: readonly string[]) => ConfigSource;
}

function findChild(node: ObjectNode, segment: string, kind: 'file' | 'flag'): Node | undefined {
  const exact = node.children.get(segment);
  if (exact || kind === 'file') return exact;
  const wanted = kebab(segment);
  for (const [key, child] of node.children) if (kebab(key) === wanted) return child;
  return undefined;
}

/** Walks a nested input object (file content or flags) along the schema tree. */
function walkInput(node: ObjectNode, input: Record<string, unknown>, ctx: WalkContext): void {
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const segments = ctx.kind === 'flag' ? key.split('.') : [key];
    let current: ObjectNode = node;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const child = findChild(current, segment, ctx.kind);
      const last = i === segments.length - 1;
      if (!child || (!last && child.kind !== 'object')) {
        const rest = [...current.path, ...segments.slice(i)];
        if (current.loose && !child) {
          ctx.layer.set(rest.join('.'), { path: rest, value, source: ctx.source(rest) });
        } else {
          ctx.unknown.push(rest.join('.'));
        }
        break;
      }
      if (!last) {
        current = child as ObjectNode;
        continue;
      }
      if (child.kind === 'object') {
        if (value === null) break; // an empty YAML section (`grpc:`) sets nothing
        if (isPlainObject(value)) walkInput(child, value, ctx);
        else {
          ctx.issues.push({
            key: child.path.join('.'),
            source: ctx.source(child.path),
            message: `expected an object, got ${show(value)}`,
          });
        }
        break;
      }
      const v = ctx.kind === 'flag' ? coerce(child.schema, value) : value;
      ctx.layer.set(child.path.join('.'), { path: child.path, value: v, source: ctx.source(child.path) });
    }
  }
}

function readConfigFile(file: string, namedBy: string, root: ObjectNode, layer: Layer): void {
  const fileIssue = (message: string): ConfigError =>
    new ConfigError([{ source: { layer: 'file', file, key: '' }, message }]);
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw fileIssue(`unsupported file type "${ext || '(none)'}" (use .json, .yaml or .yml; named by ${namedBy})`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fileIssue(
      code === 'ENOENT'
        ? `not found (named by ${namedBy})`
        : `cannot be read (named by ${namedBy}): ${(err as Error).message}`,
    );
  }
  let content: unknown;
  try {
    content = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw fileIssue(`invalid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  if (content === null || content === undefined) return; // empty file
  if (!isPlainObject(content)) throw fileIssue(`expected a mapping of keys at the top level, got ${show(content)}`);
  const issues: ConfigIssue[] = [];
  const unknown: string[] = [];
  walkInput(root, content, {
    kind: 'file',
    layer,
    issues,
    unknown,
    source: (path) => ({ layer: 'file', file, key: path.join('.') }),
  });
  if (unknown.length > 0) {
    issues.unshift({
      source: { layer: 'file', file, key: '' },
      message: `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

// ---------------------------------------------------------------------------------------------
// Merge and parse

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (!isPlainObject(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** Values of `over` win; plain objects merge recursively. */
function deepMerge(under: unknown, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(under) ? { ...under } : {};
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key], value) : value;
  }
  return out;
}

/** Keys whose values are secrets: an error about them never quotes the value. */
const SECRET_KEY = /(^|\.)(token|pass|password)$/i;

function issueMessage(issue: z.core.$ZodIssue, value: unknown, key: string, envPrefix: string): string {
  if (SECRET_KEY.test(key) && value !== undefined) value = typeof value === 'string' ? `<${value.length} characters, not shown>` : value;
  if (issue.code === 'invalid_type') {
    if (value === undefined) {
      const path = key.split('.');
      return `required, not set (use flag ${flagName(path)}, env ${envVarName(path, envPrefix)} or "${key}" in the config file)`;
    }
    return `expected ${issue.expected}, got ${show(value)}`;
  }
  return value === undefined || issue.code === 'unrecognized_keys'
    ? issue.message
    : `${issue.message}, got ${show(value)}`;
}

/**
 * Loads configuration for `schema` from flags, env, a config file and the schema's defaults
 * (in that order of precedence) and validates it. Throws {@link ConfigError}.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, options: LoadConfigOptions = {}): LoadedConfig<z.output<S>> {
  const env = options.env ?? process.env;
  const envPrefix = options.envPrefix ?? 'FULCRUM_';
  const fileEnvVar = options.fileEnvVar ?? 'FULCRUM_CONFIG';

  const leaves: LeafNode[] = [];
  const objects: ObjectNode[] = [];
  const root = buildTree(schema, [], leaves, objects);
  if (root.kind !== 'object') throw new TypeError('loadConfig: schema must be a zod object schema');

  // Env names must be unambiguous.
  const envOwners = new Map<string, string>();
  for (const leaf of leaves) {
    const name = envVarName(leaf.path, envPrefix);
    const other = envOwners.get(name);
    if (other !== undefined) {
      throw new ConfigError([{ key: leaf.path.join('.'), message: `env name ${name} is also used by ${other}` }]);
    }
    envOwners.set(name, leaf.path.join('.'));
  }

  // File layer.
  const fileLayer: Layer = new Map();
  let file: string | undefined;
  let namedBy = 'option file';
  if (options.file !== undefined && options.file !== '') file = options.file;
  else if (env[fileEnvVar]) {
    file = env[fileEnvVar];
    namedBy = `env ${fileEnvVar}`;
  }
  if (file !== undefined) readConfigFile(file, namedBy, root, fileLayer);

  // Env layer: one lookup per schema leaf; empty strings count as unset.
  const envLayer: Layer = new Map();
  for (const leaf of leaves) {
    const variable = envVarName(leaf.path, envPrefix);
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    envLayer.set(leaf.path.join('.'), {
      path: leaf.path,
      value: coerce(leaf.schema, raw),
      source: { layer: 'env', variable },
    });
  }

  // Flag layer.
  const flagLayer: Layer = new Map();
  if (options.flags) {
    const issues: ConfigIssue[] = [];
    walkInput(root, options.flags as Record<string, unknown>, {
      kind: 'flag',
      layer: flagLayer,
      issues,
      unknown: [],
      source: (path) => ({ layer: 'flag', flag: flagName(path) }),
    });
    if (issues.length > 0) throw new ConfigError(issues);
  }

  // Merge: later layers win.
  const entries = new Map<string, Entry>();
  for (const layer of [fileLayer, envLayer, flagLayer]) for (const [key, entry] of layer) entries.set(key, entry);
  const input: Record<string, unknown> = {};
  for (const entry of entries.values()) setPath(input, entry.path, entry.value);

  // Nested objects: a partly set object is merged over its own `.default({...})`; a required
  // object that nothing set becomes `{}` so that its leaves' defaults apply.
  for (const node of objects) {
    if (node.path.length === 0) continue;
    const parent = getPath(input, node.path.slice(0, -1));
    if (!isPlainObject(parent)) continue;
    const key = node.path[node.path.length - 1]!;
    const current = parent[key];
    if (isPlainObject(current)) {
      if (node.defaultValue) parent[key] = deepMerge(structuredClone(node.defaultValue()), current);
    } else if (current === undefined && !node.optional) {
      parent[key] = {};
    }
  }

  const result = z.safeParse(schema, input);
  if (!result.success) {
    const keys = [...entries.keys()];
    const issues = result.error.issues.map((issue): ConfigIssue => {
      const path = issue.path.map(String);
      const key = path.join('.');
      // The entry that supplied this value: the longest set key that is a prefix of the issue path.
      let owner: Entry | undefined;
      for (const k of keys) {
        if ((key === k || key.startsWith(`${k}.`)) && (!owner || k.length > owner.path.join('.').length)) {
          owner = entries.get(k);
        }
      }
      const value = getPath(input, issue.path);
      return {
        ...(key ? { key } : {}),
        ...(owner ? { source: owner.source } : {}),
        message: issueMessage(issue, value, key, envPrefix),
      };
    });
    throw new ConfigError(issues);
  }

  const config = result.data;
  const sources: Record<string, ConfigSource> = {};
  for (const leaf of leaves) {
    const key = leaf.path.join('.');
    const entry = entries.get(key);
    if (entry) sources[key] = entry.source;
    else if (getPath(config, leaf.path) !== undefined) sources[key] = { layer: 'default' };
  }
  for (const [key, entry] of entries) if (!(key in sources)) sources[key] = entry.source; // passthrough keys
  return { config, sources, file };
}
