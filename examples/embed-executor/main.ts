/**
 * The executor embedded in a Node pipeline: no gRPC, no NATS. The program owns the loop that
 * produces frames; the executor node interleaves a training job with the frames' inference on one
 * GPU, under a plan the program applies from code (in a real deployment the plan comes from the
 * optimizer; here it is written by hand).
 *
 *   npx tsx examples/embed-executor/main.ts                 # a virtual Orin AGX, 50× faster than real time
 *   FULCRUM_RUNNER=host npx tsx examples/embed-executor/main.ts   # real PyTorch workers on this host (CUDA when it has one)
 *
 * The host runner trains the real ResNet-18 and serves the real MobileNetV2 (Fulcrum's built-in
 * workload folders, libs/workloads/builtin; add your own with WorkloadRegistry.load([dir])) in real
 * time: on a CPU-only machine most frames miss the 0.5 s budget, which the program reports (a plan
 * is for a board).
 *
 * Environment: FULCRUM_RUNNER (`simulated` or `host`), FULCRUM_FRAMES (default 60),
 * FULCRUM_RATE (frames per second of the camera, default 20).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { validateProblem, type PowerMode } from '@fulcrum/core';
import { createBackend } from '@fulcrum/devices';
import { ExecutorNode, HostEngine, RealClock, ScaledClock, SimulatedEngine, isInferenceError, type InferOutcome } from '@fulcrum/executor';
import { WorkloadRegistry } from '@fulcrum/workloads';

const env = process.env;
const frames = Number(env['FULCRUM_FRAMES'] ?? 60);
const ratePerS = Number(env['FULCRUM_RATE'] ?? 20);
const host = env['FULCRUM_RUNNER'] === 'host';

// The problem: train ResNet-18 while a camera stream is served by MobileNet within 0.5 s.
const problem = validateProblem({
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  trainBatchSize: 8,
  powerBudgetW: 30,
  streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: ratePerS, latencyBudgetS: 0.5 }],
});
const mode: PowerMode = { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 };

// The node runs minibatches on an engine: a virtual board on a faster clock, or real PyTorch workers.
const model = host ? undefined : createBackend({ type: 'virtual', device: 'orin-agx', seed: 7 });
const clock = host ? new RealClock() : new ScaledClock(50);
const engine = model ? new SimulatedEngine(model, clock, 'example-virtual-orin', mode) : new HostEngine({ registry: WorkloadRegistry.builtin(), threads: 1, device: 'auto' });
const node = new ExecutorNode({ device: 'orin-agx', engine, clock, model });

try {
  const applied = await node.applyPlan(problem, { planId: 'example-1', mode, batchSizes: { cam: 2 }, strategy: 'manual' });
  console.log(`plan ${applied.plan.planId} applied: ${engine.name}, batch ${applied.plan.batchSizes['cam']} for cam`);

  // The pipeline: frames arrive at the camera's rate (on the node's clock); each is one request.
  const replies: Promise<InferOutcome | Error>[] = [];
  for (let i = 0; i < frames; i++) {
    // A 3×224×224 image, flattened (what MobileNetV2 takes; a simulated board ignores it).
    const frame = Float32Array.from({ length: 3 * 224 * 224 }, (_, k) => ((k + i) % 16) / 16);
    replies.push(node.infer('cam', frame, `frame-${i}`).catch((err: Error) => err));
    await sleep(1000 / ratePerS / clock.scale);
  }
  const outcomes = await Promise.all(replies);
  const ok = outcomes.filter((o): o is InferOutcome => !(o instanceof Error));
  const failed = outcomes.filter((o) => o instanceof Error);
  const latencies = ok.map((o) => o.latencyS).sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  console.log(`${ok.length} of ${frames} frames answered; p50 ${(p(0.5) * 1000).toFixed(1)} ms, p99 ${(p(0.99) * 1000).toFixed(1)} ms (budget 500 ms); ${ok.filter((o) => o.late).length} late`);
  for (const err of failed) console.log(`failed: ${isInferenceError(err) ? err.code : 'error'}: ${err.message}`);

  const status = node.status();
  const train = status.executor!;
  console.log(`training: ${train.trainMinibatches} minibatch${train.trainMinibatches === 1 ? '' : 'es'}, ${train.trainThroughputSamplesPerS.toFixed(1)} samples/s; GPU share of inference ρ = ${train.utilization.toFixed(2)}; ${status.violations.length ? `violations: ${status.violations.map((v) => v.constraint).join(', ')}` : 'no violations'}`);
  process.exitCode = failed.length === 0 ? 0 : 1;
} finally {
  // Drains what is queued, stops the workers.
  await node.close();
}
