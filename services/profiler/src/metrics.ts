import { Counter, Histogram, type Registry } from 'prom-client';

/** The profiler's Prometheus metrics (served on /metrics by the service). */
export interface ProfilerMetrics {
  /** Results measured (one per workload, kind, batch size, mode). */
  readonly measured: Counter<'kind'>;
  /** Results measured again (a re-measure's fresh windows, combined into the stored results). */
  readonly remeasured: Counter<'kind'>;
  /** Profile calls that re-measured a stored mode (one fresh window of each item). */
  readonly remeasures: Counter;
  /** Results answered from the store without measuring. */
  readonly reused: Counter<'kind'>;
  /** Mode switches made for profiling. */
  readonly modesSwitched: Counter;
  /** Profiling cost in seconds (switch + settle + minibatch time), as reported in ProfileResponse.cost. */
  readonly profilingSeconds: Counter;
  /** Wall time of Profile calls, by outcome. */
  readonly profileDuration: Histogram<'outcome'>;
  /** Windows whose power needed the fallback (README: measurement protocol). */
  readonly powerFallbacks: Counter<'method'>;
  /** Retries of peer calls while a peer was unavailable. */
  readonly peerRetries: Counter<'peer'>;
  /** profile.completed events that could not be published yet (kept and retried). */
  readonly publishFailures: Counter;
}

export function createProfilerMetrics(registry: Registry): ProfilerMetrics {
  return {
    measured: new Counter({ name: 'fulcrum_profiler_results_measured_total', help: 'Profile results measured (one per workload, kind, batch size and mode)', labelNames: ['kind'], registers: [registry] }),
    remeasured: new Counter({ name: 'fulcrum_profiler_results_remeasured_total', help: 'Profile results measured again (fresh windows combined into stored results)', labelNames: ['kind'], registers: [registry] }),
    remeasures: new Counter({ name: 'fulcrum_profiler_remeasures_total', help: 'Profile calls that re-measured a stored mode (remeasure)', registers: [registry] }),
    reused: new Counter({ name: 'fulcrum_profiler_results_reused_total', help: 'Profile results answered from the store with no new measurement', labelNames: ['kind'], registers: [registry] }),
    modesSwitched: new Counter({ name: 'fulcrum_profiler_modes_switched_total', help: 'Power-mode switches made for profiling', registers: [registry] }),
    profilingSeconds: new Counter({ name: 'fulcrum_profiler_profiling_seconds_total', help: 'Profiling cost: switch + settle + minibatch seconds', registers: [registry] }),
    profileDuration: new Histogram({
      name: 'fulcrum_profiler_profile_duration_seconds',
      help: 'Wall time of Profile calls',
      labelNames: ['outcome'],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300],
      registers: [registry],
    }),
    powerFallbacks: new Counter({ name: 'fulcrum_profiler_power_fallbacks_total', help: 'Measured windows with too few power samples inside, by fallback used', labelNames: ['method'], registers: [registry] }),
    peerRetries: new Counter({ name: 'fulcrum_profiler_peer_retries_total', help: 'Retries of calls to an unavailable peer', labelNames: ['peer'], registers: [registry] }),
    publishFailures: new Counter({ name: 'fulcrum_profiler_publish_failures_total', help: 'profile.completed events not yet published (kept and retried)', registers: [registry] }),
  };
}
