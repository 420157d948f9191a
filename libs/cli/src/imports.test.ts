/**
 * No import cycle among the CLI's own modules: every relative import (`import`/`export … from
 * './x.js'`, `import type` included, `import('./x.js')`) of every non-test .ts file under src/,
 * searched depth-first. Commands take CliIo from io.ts, shared parsers from parse.ts and the
 * services' wiring from stack.ts; program.ts alone imports the commands.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** The relative specifiers a module imports or re-exports (comments skipped). */
export function relativeSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/\bfrom\s+['"](\.\.?\/[^'"]+)['"]|\bimport\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)].map((m) => (m[1] ?? m[2])!);
}

/** The source file a specifier names: `./x.js` is `./x.ts`, a folder its index.ts. */
function resolveSource(from: string, spec: string): string {
  const target = resolve(dirname(from), spec).replace(/\.js$/, '.ts');
  return existsSync(target) ? target : join(target.replace(/\.ts$/, ''), 'index.ts');
}

/** The first cycle found in a directed graph, as a path that starts and ends on the same node; undefined if none. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('cli imports', () => {
  it('the cycle search finds a cycle and passes a DAG', () => {
    assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a']);
    assert.deepEqual(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined);
    const text = "import type { T } from '../io.js';\nimport {\n  b,\n} from './b.js';\n// import { c } from './c.js';\n/* import './e.js'; */\nexport { d } from './d.js';\nimport 'node:fs';\nawait import('./f.js');";
    assert.deepEqual(relativeSpecifiers(text), ['../io.js', './b.js', './d.js', './f.js']);
  });

  it('no import cycle among libs/cli/src modules (type-only imports included)', () => {
    const files = sourceFiles(SRC);
    assert.ok(files.length > 10, `found only ${files.length} source files under ${SRC}`);
    const graph = new Map(files.map((f) => [f, relativeSpecifiers(readFileSync(f, 'utf8')).map((spec) => resolveSource(f, spec))]));
    for (const [file, targets] of graph) for (const t of targets) assert.ok(graph.has(t), `${relative(SRC, file)} imports ${relative(SRC, t)}, which is not a source file`);
    const cycle = findCycle(graph);
    assert.equal(cycle, undefined, `import cycle: ${cycle?.map((f) => relative(SRC, f)).join(' → ')}`);
  });
});
