// Shared by the tests of this package (not exported from index.ts): temp fake trees and a snapshot of every knob file.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFakeSysfs, type FakeBoardId, type GenerateFakeSysfsOptions } from './fake-sysfs.js';
import type { JetsonBoard } from './discover.js';
import { writablePaths } from './knobs.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `fulcrum-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function fakeTree(board: FakeBoardId, extra: Omit<GenerateFakeSysfsOptions, 'board' | 'out'> = {}): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir(`sysfs-${board}`);
  const tree = await generateFakeSysfs({ board, out: join(dir, 'root'), ...extra });
  return { root: tree.root, cleanup };
}

/** The text of every file the backend may write, read straight from the tree (no emulation). */
export async function snapshotKnobFiles(root: string, board: JetsonBoard): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const path of [...writablePaths(board)].sort()) out[path] = (await readFile(join(root, path), 'utf8')).trim();
  return out;
}

export async function readTreeFile(root: string, path: string): Promise<string> {
  return (await readFile(join(root, path), 'utf8')).replace(/[\s\0]+$/u, '');
}
