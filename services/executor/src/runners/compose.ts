import type { PowerMode } from '@fulcrum/core';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';

/**
 * One runner from parts: training on one (e.g. the PyTorch worker), inference per stream on
 * others (e.g. onnxruntime), `inference` for the streams not named. The executor still runs one
 * minibatch at a time across all of them.
 */
export function composeRunners(parts: {
  training?: MinibatchRunner;
  inference?: MinibatchRunner;
  inferenceByStream?: Readonly<Record<string, MinibatchRunner>>;
}): MinibatchRunner {
  const all = [parts.training, parts.inference, ...Object.values(parts.inferenceByStream ?? {})].filter((r): r is MinibatchRunner => !!r);
  const unique = [...new Set(all)];
  return {
    name: unique.map((r) => r.name).join('+'),
    runTraining(batchSize: number): Promise<TrainingResult> {
      if (!parts.training) return Promise.reject(new Error('no training runner'));
      return parts.training.runTraining(batchSize);
    },
    runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
      const r = parts.inferenceByStream?.[stream] ?? parts.inference;
      if (!r) return Promise.reject(new Error(`no inference runner for stream ${JSON.stringify(stream)}`));
      return r.runInference(stream, inputs);
    },
    async setMode(mode: PowerMode | undefined): Promise<void> {
      for (const r of unique) await r.setMode?.(mode);
    },
    async close(): Promise<void> {
      for (const r of unique) await r.close();
    },
  };
}
