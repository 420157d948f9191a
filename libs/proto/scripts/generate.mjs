#!/usr/bin/env node
// Generates TypeScript for every .proto under <repo>/proto into
// libs/proto/src/gen with ts-proto (grpc-js services). Run by the
// @fulcrum/proto "generate" script before `tsc -b`. The output is build
// output: never edit or commit it. Exits non-zero, loudly, on any failure.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, '..');
const repoRoot = resolve(pkgDir, '..', '..');
const protoDir = join(repoRoot, 'proto');
const outDir = join(pkgDir, 'src', 'gen');

/** ts-proto options; see https://github.com/stephenh/ts-proto#supported-options */
const TS_PROTO_OPTS = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'importSuffix=.js',
  'useOptionals=messages',
  'env=node',
  'forceLong=number',
  'oneof=unions-value',
  'useDate=true',
  'useExactTypes=false',
];

/** ts-proto options for the bus events (fulcrum/events/*): types of their proto3 JSON form. */
const EVENT_TS_PROTO_OPTS = [
  'esModuleInterop=true',
  'importSuffix=.js',
  'onlyTypes=true',
  'useOptionals=messages',
  'useReadonlyTypes=true',
  'useDate=string',
  'stringEnums=true',
  'enumsAsLiterals=true',
  'removeEnumPrefix=true',
  'unrecognizedEnum=false',
  'forceLong=number',
  'useExactTypes=false',
];

function fail(message) {
  console.error(`[@fulcrum/proto generate] ERROR: ${message}`);
  process.exit(1);
}

function listProtos(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listProtos(path));
    else if (entry.isFile() && entry.name.endsWith('.proto')) out.push(path);
  }
  return out;
}

if (!existsSync(protoDir)) fail(`no proto directory at ${protoDir}`);
const protos = listProtos(protoDir)
  // protoc wants paths relative to an -I root, with forward slashes.
  .map((p) => relative(protoDir, p).split(sep).join('/'))
  .sort();
if (protos.length === 0) fail(`no .proto files under ${protoDir}`);

// The `protoc` npm package bundles the binary and the well-known types.
const requireFromRoot = createRequire(join(repoRoot, 'package.json'));
let protocPkgDir;
try {
  protocPkgDir = dirname(requireFromRoot.resolve('protoc/package.json'));
} catch {
  fail(`the "protoc" package is not installed under ${repoRoot}; run \`npm ci\` at the repo root`);
}
const protocEntry = join(protocPkgDir, 'protoc.cjs');
const wellKnownInclude = join(protocPkgDir, 'include');
if (!existsSync(protocEntry)) fail(`missing ${protocEntry}`);

const pluginName = process.platform === 'win32' ? 'protoc-gen-ts_proto.cmd' : 'protoc-gen-ts_proto';
const plugin = join(repoRoot, 'node_modules', '.bin', pluginName);
if (!existsSync(plugin)) fail(`ts-proto plugin not found at ${plugin}; run \`npm ci\` at the repo root`);

// Start from an empty output dir so deleted/renamed protos leave no stale code.
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const args = [
  protocEntry,
  `--plugin=protoc-gen-ts_proto=${plugin}`,
  `--ts_proto_out=${outDir}`,
  `--ts_proto_opt=${TS_PROTO_OPTS.join(',')}`,
  `-I${protoDir}`,
  `-I${wellKnownInclude}`,
  // A descriptor set of every file (with imports) for gRPC server reflection.
  `--descriptor_set_out=${join(outDir, 'fulcrum.binpb')}`,
  '--include_imports',
  ...protos,
];
const result = spawnSync(process.execPath, args, { cwd: repoRoot, stdio: 'inherit' });
if (result.error) fail(`could not run protoc: ${result.error.message}`);
if (result.status !== 0) {
  fail(`protoc exited with ${result.status ?? `signal ${result.signal}`}`);
}

// protoc can succeed yet write nothing (e.g. a plugin that silently bails).
const expected = protos.map((p) => join(outDir, p.replace(/\.proto$/, '.ts')));
const missing = expected.filter((p) => !existsSync(p));
if (missing.length > 0) fail(`protoc produced no output for:\n  ${missing.join('\n  ')}`);

// The bus events travel as proto3 JSON and are checked by @bufbuild/protobuf against the
// descriptor set, so their TypeScript is types only, shaped like that JSON: Timestamps are RFC 3339
// strings, enums string literals (`ActivityState.TRAIN === 'ACTIVITY_STATE_TRAIN'`). Generated
// apart (into a temporary dir, so the shared google/protobuf files keep the options above) and
// copied over the first pass's output.
const eventProtos = protos.filter((p) => p.startsWith('fulcrum/events/'));
if (eventProtos.length > 0) {
  const tmpDir = mkdtempSync(join(tmpdir(), 'fulcrum-proto-events-'));
  try {
    const eventArgs = [
      protocEntry,
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${tmpDir}`,
      `--ts_proto_opt=${EVENT_TS_PROTO_OPTS.join(',')}`,
      `-I${protoDir}`,
      `-I${wellKnownInclude}`,
      ...eventProtos,
    ];
    const r = spawnSync(process.execPath, eventArgs, { cwd: repoRoot, stdio: 'inherit' });
    if (r.error) fail(`could not run protoc: ${r.error.message}`);
    if (r.status !== 0) fail(`protoc (events) exited with ${r.status ?? `signal ${r.signal}`}`);
    for (const p of eventProtos) {
      const ts = p.replace(/\.proto$/, '.ts');
      if (!existsSync(join(tmpDir, ts))) fail(`protoc (events) produced no output for ${p}`);
      copyFileSync(join(tmpDir, ts), join(outDir, ts));
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

console.log(`[@fulcrum/proto generate] ${protos.length} proto files -> ${relative(repoRoot, outDir)}`);
