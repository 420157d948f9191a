/** A bench worker thread: rebuilds the backend and the strategies, then runs the keys it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { getStrategy, type SafetyMargins } from '@fulcrum/strategies';
import { openBackend, type BackendSpec } from './backend-spec.js';
import { runKey } from './engine.js';
import type { KeySpec, SweepPart } from './sweep.js';

interface Init {
  readonly backend: BackendSpec;
  readonly strategies: readonly string[];
  readonly margins?: SafetyMargins;
  readonly targetProbability?: number;
  readonly seed?: number;
}

const init = workerData as Init;
const port = parentPort!;
const backend = await openBackend(init.backend);
const strategies = init.strategies.map((n) => getStrategy(n));
port.on('message', (msg: { index: number; part: SweepPart; spec: KeySpec }) => {
  const result = runKey(backend, strategies, msg.part, msg.spec, {
    ...(init.margins ? { margins: init.margins } : {}),
    ...(init.targetProbability !== undefined ? { targetProbability: init.targetProbability } : {}),
    ...(init.seed !== undefined ? { seed: init.seed } : {}),
    onConfigs: (n) => port.postMessage({ type: 'progress', n }),
  });
  port.postMessage({ type: 'result', index: msg.index, result });
});
port.postMessage({ type: 'ready' });
