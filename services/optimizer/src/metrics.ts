import { Counter, Histogram, type Registry } from 'prom-client';

/** The optimizer's Prometheus metrics (served on /metrics by the service). */
export interface OptimizerMetrics {
  /** Solve calls by strategy and outcome (feasible, infeasible, error). */
  readonly solves: Counter<'strategy' | 'outcome'>;
  readonly solveDuration: Histogram<'strategy'>;
  /** Modes the profiler measured for this optimizer. */
  readonly modesProfiled: Counter;
  /** Modes answered from a store (the profiler's or this optimizer's cache). */
  readonly modesReused: Counter;
  /** Fresh windows of profiled modes the profiler measured for this optimizer (re-measures; their seconds are in profilingSeconds). */
  readonly remeasures: Counter;
  readonly profilingSeconds: Counter;
  /** Re-plans by trigger (request, arrivals) and outcome (changed, unchanged, error). */
  readonly replans: Counter<'trigger' | 'outcome' | 'board'>;
  /** ApplyPlan calls on the executor by outcome (ok, error). */
  readonly plansApplied: Counter<'outcome'>;
  readonly peerRetries: Counter<'peer'>;
}

export function createOptimizerMetrics(registry: Registry): OptimizerMetrics {
  return {
    solves: new Counter({ name: 'fulcrum_optimizer_solves_total', help: 'Solve calls by strategy and outcome', labelNames: ['strategy', 'outcome'], registers: [registry] }),
    solveDuration: new Histogram({
      name: 'fulcrum_optimizer_solve_duration_seconds',
      help: 'Wall time of Solve calls, profiling included',
      labelNames: ['strategy'],
      buckets: [0.01, 0.1, 1, 5, 15, 60, 300, 900, 3600],
      registers: [registry],
    }),
    modesProfiled: new Counter({ name: 'fulcrum_optimizer_modes_profiled_total', help: 'Power modes newly measured by the profiler for this optimizer', registers: [registry] }),
    modesReused: new Counter({ name: 'fulcrum_optimizer_modes_reused_total', help: 'Power modes answered from stored profiles', registers: [registry] }),
    remeasures: new Counter({ name: 'fulcrum_optimizer_remeasures_total', help: 'Profiled power modes measured again (a fresh window each) for this optimizer', registers: [registry] }),
    profilingSeconds: new Counter({ name: 'fulcrum_optimizer_profiling_seconds_total', help: 'Profiling seconds (switch + settle + minibatches) spent for this optimizer', registers: [registry] }),
    replans: new Counter({ name: 'fulcrum_optimizer_replans_total', help: 'Re-plans by trigger, outcome and board (empty: none named)', labelNames: ['trigger', 'outcome', 'board'], registers: [registry] }),
    plansApplied: new Counter({ name: 'fulcrum_optimizer_plans_applied_total', help: 'ApplyPlan calls on the executor by outcome', labelNames: ['outcome'], registers: [registry] }),
    peerRetries: new Counter({ name: 'fulcrum_optimizer_peer_retries_total', help: 'Retries of calls to an unavailable peer', labelNames: ['peer'], registers: [registry] }),
  };
}
