/**
 * The device-controller's Prometheus metrics (served on /metrics by the service, all labelled
 * `service="device-controller"` by the registry). The names, help texts and labels are what the
 * tests and dashboards query: change them together.
 */
import type { PowerMode } from '@fulcrum/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the scrape-time gauges read from the running node (`DeviceControllerNode` implements it). */
export interface DeviceControllerMetricsSource {
  /** Board power now, watts: a stream's sample under a second old, else a fresh one. */
  scrapePowerW(): Promise<number>;
  /** Open telemetry streams. */
  readonly openStreams: number;
}

export interface DeviceControllerMetrics {
  /** Board power, watts (read at scrape time from the source). */
  readonly power: Gauge;
  /** Clock of each knob in the current mode, MHz (`knob` = cpu, gpu, emc). */
  readonly clock: Gauge<'knob'>;
  readonly cores: Gauge;
  /** SetPowerMode calls by `outcome`: ok, invalid, refused (over the hard cap), failed. */
  readonly switches: Counter<'outcome'>;
  /** Switch latency including the settle wait, seconds. */
  readonly switchSeconds: Histogram;
  /** Open StreamTelemetry calls (read at scrape time from the source). */
  readonly telemetryStreams: Gauge;
  /** virtual/table: 1 while the executor reports a minibatch running, else 0. */
  readonly activity: Gauge;
  /** Sets the clock and core gauges to a mode. */
  observeMode(mode: PowerMode): void;
}

/**
 * Every metric of the device-controller, registered on `registry`. `source` is read at scrape
 * time (it may answer undefined until the node is open: the gauges then keep their value).
 */
export function createDeviceControllerMetrics(registry: Registry, source: () => DeviceControllerMetricsSource | undefined = () => undefined): DeviceControllerMetrics {
  const clock = new Gauge({ name: 'fulcrum_device_clock_mhz', help: 'Clock of each knob in the current mode, MHz', labelNames: ['knob'], registers: [registry] });
  const cores = new Gauge({ name: 'fulcrum_device_online_cores', help: 'Online CPU cores in the current mode', registers: [registry] });
  return {
    power: new Gauge({
      name: 'fulcrum_device_power_watts',
      help: 'Board power, watts (sampled at scrape time unless a telemetry stream sampled it in the last second)',
      registers: [registry],
      async collect() {
        const s = source();
        if (!s) return;
        try {
          this.set(await s.scrapePowerW());
        } catch {
          // keep the last value; the sensors may be briefly unreadable
        }
      },
    }),
    clock,
    cores,
    switches: new Counter({ name: 'fulcrum_mode_switches_total', help: 'SetPowerMode calls by outcome (ok, invalid, refused: over the hard cap, failed)', labelNames: ['outcome'], registers: [registry] }),
    switchSeconds: new Histogram({
      name: 'fulcrum_mode_switch_seconds',
      help: 'Mode switch latency including the settle wait, seconds',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    telemetryStreams: new Gauge({
      name: 'fulcrum_device_telemetry_streams',
      help: 'Open StreamTelemetry calls',
      registers: [registry],
      collect() {
        this.set(source()?.openStreams ?? 0);
      },
    }),
    activity: new Gauge({ name: 'fulcrum_device_executor_busy', help: 'virtual/table: 1 while the executor reports a minibatch running, else 0', registers: [registry] }),
    observeMode(mode) {
      clock.set({ knob: 'cpu' }, mode.cpuMhz);
      clock.set({ knob: 'gpu' }, mode.gpuMhz);
      clock.set({ knob: 'emc' }, mode.emcMhz);
      cores.set(mode.cores);
    },
  };
}
