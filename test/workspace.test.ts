// The monorepo's own invariants: every package is wired the way CONTRIBUTING.md says, so a
// package that builds alone but is missing from the project references (or resolves to a stale
// dist/ in tests) is caught here rather than on a user's machine.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (path: string): any => JSON.parse(readFileSync(path, 'utf8'));

const packages = ['libs', 'services'].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, group, d.name, 'package.json')))
    .map((d) => `${group}/${d.name}`),
);

describe('workspace', () => {
  const rootTsconfig = readJson(join(root, 'tsconfig.json'));
  const references = new Set<string>(rootTsconfig.references.map((r: { path: string }) => r.path));

  it('has the packages the foundation needs', () => {
    for (const p of ['libs/core', 'libs/proto', 'libs/runtime', 'libs/cli']) assert.ok(packages.includes(p), p);
  });

  for (const pkg of packages) {
    it(`${pkg} is an ESM package resolving to its source in tests and to dist when built`, () => {
      const manifest = readJson(join(root, pkg, 'package.json'));
      assert.match(manifest.name, /^@fulcrum\//);
      assert.equal(manifest.type, 'module');
      const entry = manifest.exports?.['.'];
      assert.equal(entry?.['@fulcrum/source'], './src/index.ts');
      assert.equal(entry?.types, './dist/index.d.ts');
      assert.equal(entry?.default, './dist/index.js');
      assert.ok(existsSync(join(root, pkg, 'src/index.ts')));
    });

    it(`${pkg}'s internal entry point, where it has one, resolves like its public one`, () => {
      const internal = readJson(join(root, pkg, 'package.json')).exports?.['./internal'];
      if (!internal) return;
      assert.equal(internal['@fulcrum/source'], './src/internal.ts');
      assert.equal(internal.types, './dist/internal.d.ts');
      assert.equal(internal.default, './dist/internal.js');
      assert.ok(existsSync(join(root, pkg, 'src/internal.ts')));
    });

    it(`${pkg} is in the root project references, with references to each workspace package it imports`, () => {
      assert.ok(references.has(pkg), `root tsconfig.json lacks { "path": "${pkg}" }`);
      const manifest = readJson(join(root, pkg, 'package.json'));
      const tsconfig = readJson(join(root, pkg, 'tsconfig.json'));
      const refs = new Set<string>((tsconfig.references ?? []).map((r: { path: string }) => join(pkg, r.path)));
      const workspaceDeps = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@fulcrum/'));
      for (const dep of workspaceDeps) {
        const target = packages.find((p) => readJson(join(root, p, 'package.json')).name === dep);
        assert.ok(target, `${pkg} depends on unknown workspace package ${dep}`);
        assert.ok(refs.has(target), `${pkg}/tsconfig.json lacks a reference to ${target}`);
      }
    });
  }

  it('denies the dependency install scripts that download or are not needed', () => {
    const manifest = readJson(join(root, 'package.json'));
    assert.equal(manifest.allowScripts?.['onnxruntime-node'], false);
  });
});
