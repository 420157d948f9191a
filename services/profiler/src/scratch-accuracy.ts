import { pino } from 'pino';
import { createVirtualDevice } from '@fulcrum/devices';
import { InProcessHub } from '@fulcrum/bus';
import { startProfilerService } from './service.js';
import { startBoardServices } from './testing/index.js';
const logger = pino({ level: process.env.LVL ?? 'silent' });
const bus = new InProcessHub().connect();
const board = await startBoardServices({ bus, timeScale: Number(process.env.TS ?? 20), noise: 0 });
const svc = await startProfilerService({ grpc: { port: 0 }, metrics: { port: 0 }, store: { path: ':memory:' }, controller: { address: board.controllerAddress }, executor: { address: board.executorAddress },
  protocol: { settleS: 0.05, warmupMinibatches: 1, measuredMinibatches: Number(process.env.N ?? 4), telemetryIntervalMs: 2 } }, { logger, bus });
const dev = createVirtualDevice('orin-agx', { noise: 0 });
const modes = [{cores:12,cpuMhz:2201.6,gpuMhz:1300.5,emcMhz:3199},{cores:8,cpuMhz:1728,gpuMhz:624.75,emcMhz:3199},{cores:4,cpuMhz:422.4,gpuMhz:318.75,emcMhz:665.6}];
for (const mode of modes) {
  const out = await svc.profiler.profile({ mode, workloads: [{ workload: 'resnet18', kind: 'train', batchSizes: [32] }, { workload: 'mobilenet', kind: 'infer', batchSizes: [1, 4, 16] }] });
  for (const r of out.results) {
    const t = dev.groundTruth({ mode, workload: r.workload, kind: r.kind, batchSize: r.batchSize });
    console.log(mode.gpuMhz, r.workload, r.kind, r.batchSize, 'time', (r.timeMs / t.timeMs).toFixed(3), 'power', r.powerW.toFixed(2), t.powerW.toFixed(2), (r.powerW / t.powerW).toFixed(3));
  }
}
console.log((await svc.registry.metrics()).split('\n').filter((l) => l.startsWith('fulcrum_profiler_power_fallbacks')).join('\n'));
console.log(await board.counts());
await svc.close(100); await board.close(); await bus.close();
