/**
 * Calling the optimizer remotely from a workstation: one Solve over gRPC with a bearer token and
 * TLS, its progress as it streams (one line per profiled mode), then the plan.
 *
 *   FULCRUM_OPTIMIZER=board-1.lab:50054 FULCRUM_TOKEN=… FULCRUM_TLS_CA=ca.pem \
 *     npx tsx examples/remote-solve/main.ts
 *
 * Environment: FULCRUM_OPTIMIZER (host:port, default 127.0.0.1:50054), FULCRUM_TOKEN (the
 * optimizer's grpc.token), FULCRUM_TLS_CA (PEM CA of the optimizer's certificate: use TLS),
 * FULCRUM_STRATEGY (default gmd). Exit 0 with a plan, 1 when the optimizer fails, 2 on bad input.
 */
import { formatPowerMode, isValidationError, validateProblem, type Problem } from '@fulcrum/core';
import { constraintFromProto, optimizer, problemToProto, strategyToProto } from '@fulcrum/proto';
import { GrpcConnection, errorField, isServiceError } from '@fulcrum/runtime';

const env = process.env;

// 1. The problem, checked here: a bad field is named before anything is sent.
let problem: Problem;
try {
  problem = validateProblem({
    device: 'orin-agx',
    trainWorkload: 'resnet18',
    powerBudgetW: 30,
    streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.5 }],
  });
} catch (err) {
  if (!isValidationError(err)) throw err;
  console.error(`bad problem: ${err.message}`);
  process.exit(2);
}

// 2. One connection: address, token, TLS, deadline, keepalive, bounded retry while the optimizer is away.
let conn: GrpcConnection<optimizer.OptimizerClient>;
let request: optimizer.SolveRequest;
try {
  const { strategy, modeBudget } = strategyToProto(env['FULCRUM_STRATEGY'] ?? 'gmd', 'FULCRUM_STRATEGY');
  request = optimizer.SolveRequest.fromPartial({ problem: problemToProto(problem), strategy, modeBudget });
  conn = new GrpcConnection(optimizer.OptimizerClient, {
    peer: 'optimizer',
    address: env['FULCRUM_OPTIMIZER'] ?? '127.0.0.1:50054',
    token: env['FULCRUM_TOKEN'] || undefined,
    tlsCa: env['FULCRUM_TLS_CA'] || undefined, // read now: a missing file fails here, before any call
    attempts: 4,
  });
} catch (err) {
  console.error(isValidationError(err) ? err.message : `FULCRUM_TLS_CA: cannot read ${env['FULCRUM_TLS_CA']}: ${(err as Error).message}`);
  process.exit(2);
}

// 3. Solve streams an event per profiled mode, then the plan; a whole stream is one try.
try {
  const plan = await conn.retrying('Solve', (client) =>
    new Promise<optimizer.SolveCompleted>((resolve, reject) => {
      let done: optimizer.SolveCompleted | undefined;
      const call = client.solve(request, conn.metadata(), { deadline: new Date(Date.now() + 3_600_000) });
      call.on('data', (ev: optimizer.SolveResponse) => {
        if (ev.event?.$case === 'modeProfiled') {
          const m = ev.event.value;
          console.log(`mode ${m.mode ? formatPowerMode(m.mode) : '?'} ${m.reused ? 'from the store' : 'profiled'}; ${m.cost?.modesProfiled ?? 0} measured so far`);
        } else if (ev.event?.$case === 'completed') {
          done = ev.event.value;
        }
      });
      call.on('error', reject);
      call.on('end', () => (done ? resolve(done) : reject(new Error('the Solve stream ended without a plan'))));
    }),
  );
  const p = plan.plan!;
  console.log(`plan ${p.planId}: mode ${formatPowerMode(p.mode!)} (cores, CPU MHz, GPU MHz, EMC MHz), batch sizes ${p.streams.map((s) => `${s.stream}=${s.batchSize}`).join(', ')}`);
  console.log(`predicted X = ${p.predictedTrainThroughputSamplesPerS.toFixed(1)} samples/s at ${p.predictedPowerW.toFixed(1)} W; ${p.feasible ? 'feasible' : 'infeasible'}, binding ${constraintFromProto(p.bindingConstraint, 'bindingConstraint') ?? 'none'}`);
  console.log(`cost: ${plan.cost?.modesProfiled ?? 0} modes profiled, ${plan.cost?.modesReused ?? 0} reused`);
} catch (err) {
  // After the retries an unreachable optimizer is one UNAVAILABLE naming it; INVALID_ARGUMENT names the field.
  const field = isServiceError(err) ? errorField(err) : undefined;
  console.error(`solve failed: ${err instanceof Error ? err.message : String(err)}${field ? ` (field ${field})` : ''}`);
  process.exitCode = isServiceError(err) && err.code === 3 ? 2 : 1;
} finally {
  conn.close();
}
