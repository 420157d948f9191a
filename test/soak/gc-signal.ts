/**
 * Preloaded into every service by the soak bench (`node --expose-gc --import …/gc-signal.ts`):
 * SIGUSR2 runs a full garbage collection, so the bench reads each process's RSS with no garbage
 * left in its heap (V8 otherwise sizes its heap by the allocation rate of the moment, a ±20 %
 * swing on a service under load that hides, or fakes, a leak). With FULCRUM_SOAK_HEAP_DIR set,
 * SIGWINCH writes a heap snapshot there (`<service>-<pid>-<n>.heapsnapshot`), after a collection.
 * The services' own code is untouched.
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const gc = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => gc?.());
const dir = process.env['FULCRUM_SOAK_HEAP_DIR'];
if (dir) {
  const service = process.argv[process.argv.indexOf('serve') + 1] ?? 'node';
  let n = 0;
  process.on('SIGWINCH', () => {
    gc?.();
    writeHeapSnapshot(join(dir, `${service}-${process.pid}-${++n}.heapsnapshot`));
  });
}
