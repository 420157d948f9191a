/**
 * npm run bench:executor — the numbers issue 6 asks for:
 *   A. SPEC §2 agreement, evenly spaced arrivals (grid incl. K = 2): max latency / bound, X error
 *   B. Poisson arrivals, tight plans: p99 and max against L, with and without the deadline rule
 *   C. a dynamic-rate trace with re-planning from a profiled front
 *   D. simulation speed (hours of arrivals)
 *   E. scheduling overhead per decision (the policy alone, and inside the real executor loop)
 *   F. NATS request path overhead on loopback (real nats-server)
 *   G. a real run on this host: PyTorch training + ONNX inference on CPU
 * Options: --quick (shorter runs), --json <file> (also write the numbers as JSON), --skip-real.
 */
import { writeFileSync } from 'node:fs';
import { trainThroughputSamplesPerS, validateProblem, worstCaseLatencyS, type OperatingPoint } from '@fulcrum/core/internal';
import { connectNatsBus, inferFilter, inferSubject, isErrorReply } from '@fulcrum/bus';
import { startNatsServer } from '@fulcrum/bus/testing';
import {
  Executor,
  FrontReplanner,
  InterleavingScheduler,
  LatencyRecorder,
  ScaledClock,
  SimulatedRunner,
  constantRates,
  fixedTimes,
  parseRateTrace,
  planFromFront,
  runOnHost,
  serveInference,
  simulate,
  traceArrivals,
  type MinibatchRunner,
  type ProfiledMode,
} from '@fulcrum/executor/internal';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const skipReal = args.includes('--skip-real');
const jsonPath = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
const want = (section: string): boolean => !only || only.includes(section);
const results: Record<string, unknown> = {};
const f = (x: number, d = 3): string => x.toFixed(d);
const pct = (q: number[], p: number): number => {
  const v = q.slice().sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)] ?? 0;
};

const tI = (b: number): number => 0.01 + 0.004 * b;
function tight(tT: number, rates: number[], b: number, tInfer = tI) {
  const streams = rates.map((r, k) => ({ name: `s${k}`, arrivalRatePerS: r, latencyBudgetS: 1, batchSize: b, inference: { timeS: tInfer(b), powerW: 1 } }));
  const point: OperatingPoint = { trainBatchSize: 16, training: { timeS: tT, powerW: 1 }, streams };
  const bounds = streams.map((_, i) => worstCaseLatencyS(point, i));
  return {
    point,
    bounds,
    problem: { trainBatchSize: 16, streams: streams.map((s, i) => ({ name: s.name, arrivalRatePerS: s.arrivalRatePerS, latencyBudgetS: bounds[i]! })) },
    plan: { planId: 'tight', batchSizes: Object.fromEntries(streams.map((s) => [s.name, b])) },
    times: fixedTimes({ trainTimeS: tT, inferTimeS: Object.fromEntries(streams.map((s) => [s.name, tInfer])) }),
    rates: Object.fromEntries(streams.map((s) => [s.name, s.arrivalRatePerS])),
  };
}

// ---- A ---------------------------------------------------------------------------------------
if (want('A')) {
  const durationS = quick ? 600 : 3600;
  let configs = 0;
  let worstX = 0;
  let worstRatio = 0;
  let late = 0;
  for (const tT of [0.05, 0.1, 0.25, 0.5]) for (const rate of [2, 5, 20, 60, 120]) for (const b of [1, 2, 4, 8, 16, 32]) for (const K of [1, 2]) {
    const rates = Array.from({ length: K }, (_, k) => rate / (k + 1));
    if (rates.reduce((a, r) => a + (r * tI(b)) / b, 0) >= 0.95) continue;
    const s = tight(tT, rates, b);
    const r = await simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'even', durationS }), durationS, warmupS: 5 });
    const X = trainThroughputSamplesPerS(s.point);
    worstX = Math.max(worstX, Math.abs(r.trainThroughputSamplesPerS - X) / X);
    r.streams.forEach((st, i) => {
      worstRatio = Math.max(worstRatio, st.latency.maxS / s.bounds[i]!);
      late += st.late;
    });
    configs++;
  }
  results['A'] = { configs, durationS, worstMaxOverBound: worstRatio, worstThroughputError: worstX, lateRequests: late };
  console.log(`A. SPEC §2 agreement, even arrivals: ${configs} configs (tT × λ × b × K=1,2; budgets = bound), ${durationS} s each`);
  console.log(`   max latency / bound: worst ${f(worstRatio, 6)} (≤ 1 required); late requests ${late}; training throughput |X_sim − X| / X: worst ${f(worstX * 100, 3)} % (≤ 2 %)`);
}

// ---- B ---------------------------------------------------------------------------------------
if (want('B')) {
  const durationS = quick ? 900 : 3600;
  const rows: unknown[] = [];
  console.log(`B. Poisson arrivals, plan at the edge (L = SPEC §2 bound), ${durationS} s each; latencies as multiples of L`);
  console.log('   tT     λ     b    ρ      | rule on: p99/L  max/L  partial%  X/X_formula | rule off: p99/L  max/L');
  for (const [tT, rate, b] of [[0.2, 5, 2], [0.2, 20, 8], [0.1, 60, 16], [0.1, 100, 16], [0.05, 200, 32], [0.25, 40, 16]] as const) {
    const s = tight(tT, [rate], b);
    const rho = (rate * tI(b)) / b;
    const run = (deadlineRule: boolean) =>
      simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'poisson', durationS, seed: 11 }), durationS, deadlineRule, warmupS: 5 });
    const on = await run(true);
    const off = await run(false);
    const L = s.bounds[0]!;
    const a = on.streams[0]!;
    const X = trainThroughputSamplesPerS(s.point);
    const row = {
      tT, rate, b, rho, L,
      p99OverL: a.latency.p99S / L, maxOverL: a.latency.maxS / L, partialShare: a.partialMinibatches / a.minibatches, xOverFormula: on.trainThroughputSamplesPerS / X,
      offP99OverL: off.streams[0]!.latency.p99S / L, offMaxOverL: off.streams[0]!.latency.maxS / L,
    };
    rows.push(row);
    console.log(`   ${f(tT, 2)}  ${String(rate).padStart(4)}  ${String(b).padStart(3)}  ${f(rho, 3)}  |          ${f(row.p99OverL)}  ${f(row.maxOverL)}  ${f(row.partialShare * 100, 1).padStart(6)}    ${f(row.xOverFormula)}      |           ${f(row.offP99OverL)}  ${f(row.offMaxOverL)}`);
  }
  results['B'] = rows;
}

function front(): ProfiledMode[] {
  const mode = (gpuMhz: number, tT: number, a: number, c: number, powerW: number): ProfiledMode => ({
    mode: { cores: 12, cpuMhz: 2201.6, gpuMhz, emcMhz: 3199 },
    training: { timeS: tT, powerW },
    inference: (_i, b) => ({ timeS: a + c * b, powerW: powerW - 2 }),
  });
  return [mode(1300.5, 0.15, 0.01, 0.003, 40), mode(930.75, 0.2, 0.014, 0.004, 30), mode(624.75, 0.3, 0.02, 0.006, 22)];
}
// ---- C: dynamic rates ----
if (want('C')) {
  const profiled = front();
  const problem = validateProblem({
    trainWorkload: 'resnet18', trainBatchSize: 16, powerBudgetW: 45,
    streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.6, candidateBatchSizes: [1, 2, 4, 8, 16, 32] }],
  });
  const first = planFromFront(problem, profiled, 'als');
  const times = {
    trainTimeS: (m: { gpuMhz: number } | undefined) => profiled.find((p) => p.mode.gpuMhz === m?.gpuMhz)!.training.timeS,
    inferTimeS: (_s: string, m: { gpuMhz: number } | undefined, b: number) => profiled.find((p) => p.mode.gpuMhz === m?.gpuMhz)!.inference(0, b)!.timeS,
  };
  const trace = parseRateTrace('time_s,stream,rate_per_s\n0,cam,20\n1200,cam,60\n2400,cam,8\n');
  const run = (replan: boolean) =>
    simulate({
      problem, plan: first.plan, times, durationS: 3600, timelineBucketS: 10,
      arrivals: traceArrivals(trace, { process: 'poisson', durationS: 3600, seed: 5 }),
      ...(replan ? { replanner: new FrontReplanner(problem, profiled, 'als') } : {}),
      rateWatch: { windowS: 10, replanThreshold: 0.25 },
    });
  const r = await run(true);
  const fixed = await run(false);
  const phases = [[0, 1200], [1200, 2400], [2400, 3600]].map(([a, b]) => {
    const pts = r.timeline.filter((p) => p.tS >= a! && p.tS < b! && !Number.isNaN(p.latencyP99S));
    const fpts = fixed.timeline.filter((p) => p.tS >= a! && p.tS < b!);
    const xs = (list: typeof pts) => list.reduce((s, p) => s + p.trainThroughputSamplesPerS, 0) / Math.max(1, list.length);
    return { fromS: a, toS: b, worstBucketP99S: Math.max(...pts.map((p) => p.latencyP99S)), worstBucketMaxS: Math.max(...pts.map((p) => p.latencyMaxS)), trainThroughput: xs(pts), trainThroughputWithoutReplan: xs(fpts) };
  });
  results['C'] = {
    plans: r.plans.map((p) => ({ atS: p.atS, batchSize: p.plan.batchSizes['cam'], gpuMhz: p.plan.mode?.gpuMhz, ratePerS: p.problem.streams[0]!.arrivalRatePerS })),
    p99S: r.streams[0]!.latency.p99S, maxS: r.streams[0]!.latency.maxS, L: 0.6, phases,
    withoutReplan: { p99S: fixed.streams[0]!.latency.p99S, maxS: fixed.streams[0]!.latency.maxS, X: fixed.trainThroughputSamplesPerS }, X: r.trainThroughputSamplesPerS,
  };
  console.log(`C. dynamic-rate trace 20 → 60 → 8 req/s (Poisson, 1 h, L = 0.6 s), re-planning from a 3-mode front with no profiling:`);
  console.log(`   ${r.plans.length} plans (${r.replanRequests} re-plan requests): ${r.plans.map((p) => `t=${f(p.atS, 1)}s b=${p.plan.batchSizes['cam']} gpu=${p.plan.mode?.gpuMhz} (λ=${f(p.problem.streams[0]!.arrivalRatePerS, 1)})`).join('; ')}`);
  for (const p of phases) console.log(`   ${p.fromS}-${p.toS} s: worst 10-s-bucket p99 ${f(p.worstBucketP99S)} s, max ${f(p.worstBucketMaxS)} s; X ${f(p.trainThroughput, 1)} samples/s (without re-planning ${f(p.trainThroughputWithoutReplan, 1)})`);
  console.log(`   whole run: p99 ${f(r.streams[0]!.latency.p99S)} s, max ${f(r.streams[0]!.latency.maxS)} s (L 0.6); without re-planning p99 ${f(fixed.streams[0]!.latency.p99S)} s, max ${f(fixed.streams[0]!.latency.maxS)} s`);
}

// ---- D ---------------------------------------------------------------------------------------
if (want('D')) {
  const hours = quick ? 1 : 4;
  const s = tight(0.1, [100], 16);
  const r = await simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'poisson', durationS: hours * 3600, seed: 3 }), durationS: hours * 3600 });
  results['D'] = { hours, arrivals: r.streams[0]!.arrivals, wallS: r.wallS };
  console.log(`D. simulation speed: ${hours} h of 100 req/s Poisson (${r.streams[0]!.arrivals} requests, ${r.trainMinibatches} training minibatches) in ${f(r.wallS, 2)} s wall`);
}

// ---- E ---------------------------------------------------------------------------------------
if (want('E')) {
  const out: Record<string, unknown> = {};
  for (const K of [1, 2, 4]) {
    const sched = new InterleavingScheduler(Array.from({ length: K }, (_, k) => ({ name: `s${k}`, latencyBudgetS: 0.5, batchSize: 8 })));
    const est = { trainTimeS: () => 0.1, inferTimeS: () => 0.02 };
    const rec = new LatencyRecorder();
    let t = 0;
    for (let i = 0; i < 200_000; i++) {
      t += 0.001;
      sched.enqueue(i % K, { arrivalS: t, deadlineS: t + 0.5 });
      const t0 = performance.now();
      const d = sched.decide(t, true, est);
      if (d.kind === 'infer') sched.take(d.stream, d.count);
      rec.record((performance.now() - t0) * 1000);
    }
    const sum = rec.summary();
    out[`policyK${K}`] = { p50Us: sum.p50S, p99Us: sum.p99S };
  }
  // Inside the real executor loop (decide + take + bookkeeping), simulated runner at ×50.
  const clock = new ScaledClock(50);
  const ex = new Executor({
    runner: new SimulatedRunner(fixedTimes({ trainTimeS: 0.05, inferTimeS: { a: (b) => 0.005 + 0.001 * b, b: (b) => 0.005 + 0.001 * b } }), { clock }),
    problem: { trainBatchSize: 16, streams: [{ name: 'a', arrivalRatePerS: 100, latencyBudgetS: 0.3 }, { name: 'b', arrivalRatePerS: 50, latencyBudgetS: 0.3 }] },
    plan: { planId: 'e', batchSizes: { a: 8, b: 4 } },
    clock,
  });
  ex.start();
  const pending: Promise<unknown>[] = [];
  for (const a of traceArrivals(constantRates({ a: 100, b: 50 }), { process: 'poisson', durationS: quick ? 60 : 200, seed: 2 })) {
    const wait = a.tS - clock.nowS();
    if (wait * 1000 > clock.scale) await clock.sleep(wait);
    pending.push(ex.infer(a.stream).catch(() => undefined));
  }
  const st = await ex.stop();
  await Promise.all(pending);
  out['executorLoop'] = st.decisionOverheadUs;
  results['E'] = out;
  console.log(`E. scheduling overhead per decision (goal p99 < 200 µs):`);
  for (const K of [1, 2, 4]) {
    const o = out[`policyK${K}`] as { p50Us: number; p99Us: number };
    console.log(`   policy alone, K=${K}: p50 ${f(o.p50Us, 2)} µs, p99 ${f(o.p99Us, 2)} µs`);
  }
  console.log(`   real executor loop (K=2, ${st.decisionOverheadUs.count} decisions): p50 ${f(st.decisionOverheadUs.p50, 2)} µs, p99 ${f(st.decisionOverheadUs.p99, 2)} µs, max ${f(st.decisionOverheadUs.max, 1)} µs`);
}

// ---- F ---------------------------------------------------------------------------------------
if (want('F')) {
  const server = await startNatsServer({ jetStream: false });
  const bus = await connectNatsBus({ url: server.url, name: 'bench-executor' });
  const client = await connectNatsBus({ url: server.url, name: 'bench-client' });
  const instant: MinibatchRunner = {
    name: 'instant',
    runTraining: async () => ({ timeS: 0 }),
    runInference: async (_s, inputs) => ({ timeS: 0, outputs: inputs.map(() => 0) }),
    close: async () => {},
  };
  const ex = new Executor({ runner: instant, training: false, problem: { trainBatchSize: 1, streams: [{ name: 'cam', arrivalRatePerS: 100, latencyBudgetS: 1 }] }, plan: { planId: 'f', batchSizes: { cam: 1 } } });
  ex.start();
  const service = serveInference(ex, bus, 'bench');
  await service.ready;
  const subject = inferSubject('bench', 'cam');
  const n = quick ? 2000 : 10000;
  // Baseline: the same request/reply through the bus with a handler that answers at once (no executor).
  const echo = bus.serve(inferFilter('echo'), (req) => ({ requestId: req.requestId, latencyS: 0, queueS: 0, batchSize: 1 }));
  await echo.ready;
  const echoRt: number[] = [];
  for (let i = 0; i < 200; i++) await client.request(inferSubject('echo', 'cam'), { requestId: `e${i}` });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.request(inferSubject('echo', 'cam'), { requestId: `e${i}` });
    echoRt.push(performance.now() - t0);
  }
  await echo.drain();
  const roundTrip: number[] = [];
  const overhead: number[] = [];
  for (let i = 0; i < 200; i++) await client.request(subject, { requestId: `w${i}` });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await client.request(subject, { requestId: `r${i}` });
    const rtMs = performance.now() - t0;
    if (isErrorReply(r)) throw new Error(r.error.message);
    roundTrip.push(rtMs);
    overhead.push(rtMs - r.latencyS * 1000);
  }
  await service.drain();
  await ex.stop();
  await client.close();
  await bus.close();
  await server.stop();
  results['F'] = {
    requests: n,
    roundTripMs: { p50: pct(roundTrip, 0.5), p99: pct(roundTrip, 0.99) },
    natsPathMs: { p50: pct(overhead, 0.5), p99: pct(overhead, 0.99) },
    busEchoRoundTripMs: { p50: pct(echoRt, 0.5), p99: pct(echoRt, 0.99) },
  };
  console.log(`F. NATS request path on loopback (${n} sequential requests, instant runner, b = 1; goal p99 < 2 ms):`);
  console.log(`   round trip p50 ${f(pct(roundTrip, 0.5))} ms, p99 ${f(pct(roundTrip, 0.99))} ms; minus the executor's own latency (NATS path overhead) p50 ${f(pct(overhead, 0.5))} ms, p99 ${f(pct(overhead, 0.99))} ms`);
  console.log(`   baseline, the bus alone (echo handler, no executor): p50 ${f(pct(echoRt, 0.5))} ms, p99 ${f(pct(echoRt, 0.99))} ms`);
}

// ---- G ---------------------------------------------------------------------------------------
if (!skipReal && want('G')) {
  const durationS = quick ? 5 : 15;
  const r = await runOnHost({ streams: [{ name: 'cam', arrivalRatePerS: 20, latencyBudgetS: 0.5, batchSize: 4 }], trainBatchSize: 16, durationS, process: 'even' });
  const s = r.streams[0]!;
  results['G'] = {
    device: r.worker.device, torch: r.worker.torch, durationS, sent: s.sent, answered: s.completed, failed: s.failed, late: s.late,
    latency: s.latency, boundMeanS: s.boundMeanS, boundMaxS: s.boundMaxS, trainTime: r.trainTime, inferTime: s.inferTime,
    X: r.trainThroughputSamplesPerS, formulaX: r.formulaTrainThroughputSamplesPerS, decisionOverheadUs: r.status.decisionOverheadUs,
  };
  console.log(`G. real run on this host (${r.worker.device}, torch ${r.worker.torch}): small CNN training bT=16 (PyTorch worker) + ONNX inference (onnxruntime-node), ${durationS} s of 20 req/s even arrivals, b=4, L=0.5 s`);
  console.log(`   sent ${s.sent}, answered ${s.completed}, errors ${JSON.stringify(s.failed)}, late ${s.late}: every request answered: ${r.allAnswered}`);
  console.log(`   worker-timed tT mean ${f(r.trainTime.meanS * 1000, 2)} ms (max ${f(r.trainTime.maxS * 1000, 2)}), tI(4) mean ${f(s.inferTime.meanS * 1000, 3)} ms (max ${f(s.inferTime.maxS * 1000, 3)})`);
  console.log(`   latency p50 ${f(s.latency.p50S * 1000, 1)} ms, p99 ${f(s.latency.p99S * 1000, 1)} ms, max ${f(s.latency.maxS * 1000, 1)} ms; SPEC §2 bound from measured times: mean ${f(s.boundMeanS * 1000, 1)} ms, worst ${f(s.boundMaxS * 1000, 1)} ms; budget 500 ms`);
  console.log(`   training throughput ${f(r.trainThroughputSamplesPerS, 0)} samples/s measured vs ${f(r.formulaTrainThroughputSamplesPerS, 0)} by the formula from worker-timed tT (gap: pipe + JSON + scheduling per minibatch)`);
}

if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
