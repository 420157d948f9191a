import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, envVarName, flagName, formatSource, loadConfig } from './internal.js';

const schema = z.object({
  logLevel: z.enum(['debug', 'info', 'warn']).default('info'),
  device: z.string().default('orin-agx'),
  grpc: z.object({
    port: z.number().int().min(1).max(65535).default(50051),
    host: z.string().default('0.0.0.0'),
    maxMessageBytes: z.number().default(4_194_304),
  }),
  nats: z.object({ url: z.string(), jetstream: z.boolean() }).default({ url: 'nats://localhost:4222', jetstream: true }),
  batchSizes: z.array(z.number().int().positive()).default([1, 2, 4]),
  streams: z.array(z.string()).default([]),
  simulate: z.boolean().default(false),
  profiler: z.object({ settleMs: z.number().default(2000), mode: z.enum(['real', 'virtual']).default('virtual') }),
});

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
function writeFile(ext: string, text: string): string {
  const path = join(dir, `config-${fileCount++}${ext}`);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('naming', () => {
  it('maps camelCase keys to UPPER_SNAKE, nesting with a double underscore', () => {
    assert.equal(envVarName('grpc.port'), 'FULCRUM_GRPC__PORT');
    assert.equal(envVarName('logLevel'), 'FULCRUM_LOG_LEVEL');
    assert.equal(envVarName('profiler.settleMs'), 'FULCRUM_PROFILER__SETTLE_MS');
    assert.equal(envVarName('grpc.maxMessageBytes', 'X_'), 'X_GRPC__MAX_MESSAGE_BYTES');
    assert.equal(envVarName('httpURLPath'), 'FULCRUM_HTTP_URL_PATH');
    assert.equal(flagName('grpc.maxMessageBytes'), '--grpc.max-message-bytes');
    assert.equal(flagName('logLevel'), '--log-level');
  });
});

describe('defaults', () => {
  it('uses schema defaults when nothing is set, and says so in sources', () => {
    const { config, sources, file } = loadConfig(schema, { env: {} });
    assert.equal(config.grpc.port, 50051);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.nats, { url: 'nats://localhost:4222', jetstream: true });
    assert.deepEqual(config.batchSizes, [1, 2, 4]);
    assert.deepEqual(sources['grpc.port'], { layer: 'default' });
    assert.deepEqual(sources['nats.url'], { layer: 'default' });
    assert.equal(file, undefined);
    assert.deepEqual(Object.keys(sources).slice(0, 3), ['logLevel', 'device', 'grpc.port']);
  });

  it('fills the rest of a partly set object from its object-level default', () => {
    const { config, sources } = loadConfig(schema, { env: { FULCRUM_NATS__URL: 'nats://bus:4222' } });
    assert.deepEqual(config.nats, { url: 'nats://bus:4222', jetstream: true });
    assert.deepEqual(sources['nats.url'], { layer: 'env', variable: 'FULCRUM_NATS__URL' });
    assert.deepEqual(sources['nats.jetstream'], { layer: 'default' });
  });
});

describe('precedence: flags > env > file > defaults', () => {
  const yaml = () => writeFile('.yaml', 'logLevel: warn\ngrpc:\n  port: 6000\n');

  it('file overrides defaults (flat and nested)', () => {
    const file = yaml();
    const { config, sources } = loadConfig(schema, { env: {}, file });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.grpc.port, 6000);
    assert.equal(config.grpc.host, '0.0.0.0');
    assert.deepEqual(sources['grpc.port'], { layer: 'file', file, key: 'grpc.port' });
    assert.deepEqual(sources['logLevel'], { layer: 'file', file, key: 'logLevel' });
    assert.deepEqual(sources['grpc.host'], { layer: 'default' });
  });

  it('env overrides file (flat and nested)', () => {
    const file = yaml();
    const { config, sources } = loadConfig(schema, {
      env: { FULCRUM_LOG_LEVEL: 'debug', FULCRUM_GRPC__PORT: '7000' },
      file,
    });
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.grpc.port, 7000);
    assert.deepEqual(sources['grpc.port'], { layer: 'env', variable: 'FULCRUM_GRPC__PORT' });
    assert.deepEqual(sources['logLevel'], { layer: 'env', variable: 'FULCRUM_LOG_LEVEL' });
  });

  it('flags override env (flat and nested)', () => {
    const file = yaml();
    const { config, sources } = loadConfig(schema, {
      env: { FULCRUM_LOG_LEVEL: 'debug', FULCRUM_GRPC__PORT: '7000' },
      file,
      flags: { logLevel: 'info', grpc: { port: 8000 } },
    });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.grpc.port, 8000);
    assert.deepEqual(sources['grpc.port'], { layer: 'flag', flag: '--grpc.port' });
    assert.deepEqual(sources['logLevel'], { layer: 'flag', flag: '--log-level' });
  });

  it('undefined flags do not override lower layers', () => {
    const file = yaml();
    const { config, sources } = loadConfig(schema, {
      env: { FULCRUM_GRPC__PORT: '7000' },
      file,
      flags: { logLevel: undefined, grpc: { port: undefined }, 'grpc.host': undefined },
    });
    assert.equal(config.grpc.port, 7000);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.grpc.host, '0.0.0.0');
    assert.equal(sources['grpc.port']?.layer, 'env');
  });

  it('accepts dotted and kebab-case flag keys and coerces string flag values', () => {
    const { config, sources } = loadConfig(schema, {
      env: {},
      flags: { 'grpc.port': '9000', 'log-level': 'debug', 'grpc.max-message-bytes': '1024', simulate: 'true', help: true },
    });
    assert.equal(config.grpc.port, 9000);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.grpc.maxMessageBytes, 1024);
    assert.equal(config.simulate, true);
    assert.deepEqual(sources['grpc.maxMessageBytes'], { layer: 'flag', flag: '--grpc.max-message-bytes' });
  });
});

describe('env coercion', () => {
  it('numbers', () => {
    const { config } = loadConfig(schema, { env: { FULCRUM_GRPC__PORT: ' 1234 ', FULCRUM_PROFILER__SETTLE_MS: '2.5e3' } });
    assert.equal(config.grpc.port, 1234);
    assert.equal(config.profiler.settleMs, 2500);
  });

  for (const [raw, expected] of [
    ['true', true],
    ['1', true],
    ['YES', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['Off', false],
  ] as const) {
    it(`boolean ${JSON.stringify(raw)} → ${expected}`, () => {
      const { config } = loadConfig(schema, {
        env: { FULCRUM_SIMULATE: raw, FULCRUM_NATS__JETSTREAM: raw },
        flags: { simulate: undefined },
      });
      assert.equal(config.simulate, expected);
      assert.equal(config.nats.jetstream, expected);
    });
  }

  it('enums (exact and case-insensitive)', () => {
    assert.equal(loadConfig(schema, { env: { FULCRUM_PROFILER__MODE: 'real' } }).config.profiler.mode, 'real');
    assert.equal(loadConfig(schema, { env: { FULCRUM_LOG_LEVEL: 'WARN' } }).config.logLevel, 'warn');
  });

  it('comma lists, with element coercion, and JSON arrays', () => {
    const { config } = loadConfig(schema, { env: { FULCRUM_BATCH_SIZES: '1, 8,16,', FULCRUM_STREAMS: 'cam0,cam1' } });
    assert.deepEqual(config.batchSizes, [1, 8, 16]);
    assert.deepEqual(config.streams, ['cam0', 'cam1']);
    assert.deepEqual(loadConfig(schema, { env: { FULCRUM_BATCH_SIZES: '[4, 32]' } }).config.batchSizes, [4, 32]);
  });

  it('treats an empty env value as unset', () => {
    const { config, sources } = loadConfig(schema, { env: { FULCRUM_GRPC__PORT: '' } });
    assert.equal(config.grpc.port, 50051);
    assert.equal(sources['grpc.port']?.layer, 'default');
  });

  it('honours a custom prefix', () => {
    const { config } = loadConfig(schema, { env: { FULCRUM_GRPC__PORT: '1', APP_GRPC__PORT: '2' }, envPrefix: 'APP_' });
    assert.equal(config.grpc.port, 2);
  });
});

describe('files', () => {
  const expectContent = (config: z.output<typeof schema>): void => {
    assert.equal(config.device, 'xavier');
    assert.equal(config.grpc.port, 6001);
    assert.deepEqual(config.batchSizes, [2, 4]);
    assert.equal(config.simulate, true);
    assert.equal(config.profiler.mode, 'real');
  };

  it('reads YAML (.yaml and .yml)', () => {
    const text = 'device: xavier\ngrpc:\n  port: 6001\nbatchSizes: [2, 4]\nsimulate: true\nprofiler:\n  mode: real\n';
    expectContent(loadConfig(schema, { env: {}, file: writeFile('.yaml', text) }).config);
    expectContent(loadConfig(schema, { env: {}, file: writeFile('.yml', text) }).config);
  });

  it('reads JSON', () => {
    const text = JSON.stringify({ device: 'xavier', grpc: { port: 6001 }, batchSizes: [2, 4], simulate: true, profiler: { mode: 'real' } });
    expectContent(loadConfig(schema, { env: {}, file: writeFile('.json', text) }).config);
  });

  it('takes the file from FULCRUM_CONFIG when no file option is given; the option wins', () => {
    const fromEnv = writeFile('.json', '{"device": "from-env"}');
    const fromOption = writeFile('.json', '{"device": "from-option"}');
    const a = loadConfig(schema, { env: { FULCRUM_CONFIG: fromEnv } });
    assert.equal(a.config.device, 'from-env');
    assert.equal(a.file, fromEnv);
    assert.equal(loadConfig(schema, { env: { FULCRUM_CONFIG: fromEnv }, file: fromOption }).config.device, 'from-option');
    assert.equal(loadConfig(schema, { env: { APP_CONFIG: fromEnv }, fileEnvVar: 'APP_CONFIG' }).config.device, 'from-env');
  });

  it('accepts an empty YAML file and an empty section', () => {
    assert.equal(loadConfig(schema, { env: {}, file: writeFile('.yaml', '') }).config.grpc.port, 50051);
    assert.equal(loadConfig(schema, { env: {}, file: writeFile('.yaml', 'grpc:\n') }).config.grpc.port, 50051);
  });
});

describe('errors', () => {
  it('bad env value names key, variable and problem', () => {
    const err = configError(() => loadConfig(schema, { env: { FULCRUM_GRPC__PORT: 'abc' } }));
    assert.equal(err.message, 'config: grpc.port from env FULCRUM_GRPC__PORT: expected number, got "abc"');
    assert.equal(err.name, 'ConfigError');
    assert.deepEqual(err.issues, [
      { key: 'grpc.port', source: { layer: 'env', variable: 'FULCRUM_GRPC__PORT' }, message: 'expected number, got "abc"' },
    ]);
  });

  it('bad boolean, enum and list values from env', () => {
    assert.equal(
      configError(() => loadConfig(schema, { env: { FULCRUM_SIMULATE: 'maybe' } })).message,
      'config: simulate from env FULCRUM_SIMULATE: expected boolean, got "maybe"',
    );
    assert.match(
      configError(() => loadConfig(schema, { env: { FULCRUM_PROFILER__MODE: 'fake' } })).message,
      /^config: profiler\.mode from env FULCRUM_PROFILER__MODE: Invalid option: expected one of "real"\|"virtual", got "fake"$/,
    );
    assert.equal(
      configError(() => loadConfig(schema, { env: { FULCRUM_BATCH_SIZES: '1,x' } })).message,
      'config: batchSizes.1 from env FULCRUM_BATCH_SIZES: expected number, got "x"',
    );
  });

  it('a value that violates a check reports zod\'s message and the value', () => {
    const err = configError(() => loadConfig(schema, { env: { FULCRUM_GRPC__PORT: '70000' } }));
    assert.match(err.message, /^config: grpc\.port from env FULCRUM_GRPC__PORT: .*65535.*, got 70000$/);
  });

  it('bad file value names the file and key', () => {
    const file = writeFile('.yaml', 'grpc:\n  port: "8080"\n');
    const err = configError(() => loadConfig(schema, { env: {}, file }));
    assert.equal(err.message, `config: grpc.port from file ${file}:grpc.port: expected number, got "8080"`);
  });

  it('a file value overridden by a good env value is not an error', () => {
    const file = writeFile('.yaml', 'grpc:\n  port: "8080"\n');
    assert.equal(loadConfig(schema, { env: { FULCRUM_GRPC__PORT: '1' }, file }).config.grpc.port, 1);
  });

  it('bad flag value names the flag', () => {
    const err = configError(() => loadConfig(schema, { env: {}, flags: { grpc: { port: 'x' } } }));
    assert.equal(err.message, 'config: grpc.port from flag --grpc.port: expected number, got "x"');
  });

  it('unknown keys in a file are named (flat and nested)', () => {
    const file = writeFile('.yaml', 'grpc:\n  prot: 1\n  port: 2\ndevcie: x\n');
    const err = configError(() => loadConfig(schema, { env: {}, file }));
    assert.equal(err.message, `config: from file ${file}: unknown keys grpc.prot, devcie`);
  });

  it('a scalar where the schema has a section', () => {
    const file = writeFile('.json', '{"grpc": 5}');
    const err = configError(() => loadConfig(schema, { env: {}, file }));
    assert.equal(err.message, `config: grpc from file ${file}:grpc: expected an object, got 5`);
  });

  it('missing file names the path and who named it', () => {
    const file = join(dir, 'nope.yaml');
    assert.equal(
      configError(() => loadConfig(schema, { env: {}, file })).message,
      `config: from file ${file}: not found (named by option file)`,
    );
    assert.equal(
      configError(() => loadConfig(schema, { env: { FULCRUM_CONFIG: file } })).message,
      `config: from file ${file}: not found (named by env FULCRUM_CONFIG)`,
    );
  });

  it('unparseable file and unsupported extension', () => {
    const bad = writeFile('.json', '{ nope');
    assert.match(configError(() => loadConfig(schema, { env: {}, file: bad })).message, /^config: from file .*: invalid JSON: /);
    const badYaml = writeFile('.yaml', 'a: [1, 2\n');
    assert.match(configError(() => loadConfig(schema, { env: {}, file: badYaml })).message, /invalid YAML/);
    const toml = writeFile('.toml', 'a = 1');
    assert.match(configError(() => loadConfig(schema, { env: {}, file: toml })).message, /unsupported file type "\.toml"/);
  });

  it('a required key that no layer sets says how to set it', () => {
    const required = z.object({ nats: z.object({ url: z.string() }) });
    const err = configError(() => loadConfig(required, { env: {} }));
    assert.equal(
      err.message,
      'config: nats.url: required, not set (use flag --nats.url, env FULCRUM_NATS__URL or "nats.url" in the config file)',
    );
  });

  it('reports every issue, one per line', () => {
    const err = configError(() => loadConfig(schema, { env: { FULCRUM_GRPC__PORT: 'a', FULCRUM_SIMULATE: 'b' } }));
    assert.equal(err.issues.length, 2);
    assert.equal(err.message.split('\n').length, 2);
  });
});

describe('formatSource', () => {
  it('formats each layer', () => {
    assert.equal(formatSource({ layer: 'flag', flag: '--grpc.port' }), 'flag --grpc.port');
    assert.equal(formatSource({ layer: 'env', variable: 'FULCRUM_GRPC__PORT' }), 'env FULCRUM_GRPC__PORT');
    assert.equal(formatSource({ layer: 'file', file: 'f.yaml', key: 'grpc.port' }), 'file f.yaml:grpc.port');
    assert.equal(formatSource({ layer: 'default' }), 'default');
  });
});
