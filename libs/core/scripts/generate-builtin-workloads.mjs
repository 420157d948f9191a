#!/usr/bin/env node
// Writes libs/core/src/gen/builtin-workloads.ts from the built-in workload folders'
// manifests (libs/workloads/builtin/*/fulcrum.yaml): the folders are the one list of Fulcrum's
// own workloads; core's catalog is generated from them (name, display name, input, bT).
// Run by `npm run build` (the root's prepare) before tsc; the output is not committed.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const builtin = join(here, '..', '..', 'workloads', 'builtin');
const out = join(here, '..', 'src', 'gen', 'builtin-workloads.ts');

const descriptors = [];
for (const name of readdirSync(builtin).sort()) {
  const file = join(builtin, name, 'fulcrum.yaml');
  if (!existsSync(file)) continue;
  const m = parse(readFileSync(file, 'utf8'));
  if (m?.name !== name) throw new Error(`${file}: name ${JSON.stringify(m?.name)} is not the folder's name ${JSON.stringify(name)}`);
  const shape = m.infer?.input?.shape;
  descriptors.push({
    id: m.name,
    displayName: m.display_name ?? m.name,
    ...(shape ? { input: `${shape.join('×')} ${m.infer.input.dtype ?? 'float32'}` } : {}),
    defaultTrainBatchSize: m.train?.batch_size ?? 32,
  });
}
if (descriptors.length === 0) throw new Error(`no workload folders under ${builtin}`);
mkdirSync(dirname(out), { recursive: true });
const text = `// Generated from libs/workloads/builtin/*/fulcrum.yaml by libs/core/scripts/generate-builtin-workloads.mjs; do not edit.
import type { WorkloadDescriptor } from '../workloads.js';

/** Fulcrum's built-in workloads, one per folder of libs/workloads/builtin (sorted by name). */
export const BUILTIN_WORKLOAD_DESCRIPTORS: readonly WorkloadDescriptor[] = ${JSON.stringify(descriptors, null, 2)};
`;
const before = existsSync(out) ? readFileSync(out, 'utf8') : '';
if (before !== text) writeFileSync(out, text);
console.log(`[@fulcrum/core generate] ${descriptors.length} built-in workloads -> libs/core/src/gen/builtin-workloads.ts`);
