/**
 * What the executor measures: latency percentiles (HdrHistogram, 3 significant digits, with the
 * exact maximum kept beside it), arrival rates over a sliding window, EWMA minibatch times, and a
 * bucketed timeline for plots. All times are seconds on the executor's clock (virtual seconds in
 * a simulation).
 */
import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types.js';

const US_PER_S = 1e6;

export class LatencyRecorder {
  private readonly histogram = LatencyRecorder.newHistogram();
  private maxS = 0;
  private sumS = 0;

  private static newHistogram(): hdr.Histogram {
    // 1 µs .. 1 day at 3 significant digits. Plain 32-bit buckets (~100 KB): the 'packed' layout is
    // smaller but makes each percentile lookup walk the packed array (~16 ms), stalling the loop.
    return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 86_400 * US_PER_S, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
  }

  record(latencyS: number): void {
    const us = Math.min(86_400 * US_PER_S, Math.max(1, Math.round(latencyS * US_PER_S)));
    this.histogram.recordValue(us);
    if (latencyS > this.maxS) this.maxS = latencyS;
    this.sumS += latencyS;
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** The latency at `percentile` (0–100), seconds; 0 when nothing was recorded. */
  percentileS(percentile: number): number {
    if (this.histogram.totalCount === 0) return 0;
    return Math.min(this.histogram.getValueAtPercentile(percentile) / US_PER_S, this.maxS);
  }

  summary(): LatencySummary {
    const count = this.histogram.totalCount;
    return {
      count,
      p50S: this.percentileS(50),
      p99S: this.percentileS(99),
      maxS: this.maxS,
      meanS: count ? this.sumS / count : 0,
    };
  }

  reset(): void {
    this.histogram.reset();
    this.maxS = 0;
    this.sumS = 0;
  }
}

/** Arrival rate over a sliding window: arrivals in (now − W, now] divided by W (or by the time observed, while shorter). */
export class RateMeter {
  private readonly times: number[] = [];
  private head = 0;
  readonly windowS: number;
  private readonly startS: number;

  constructor(windowS: number, startS: number) {
    this.windowS = windowS;
    this.startS = startS;
  }

  record(tS: number): void {
    this.times.push(tS);
  }

  /** Seconds of history the rate rests on (≤ W). */
  coverageS(nowS: number): number {
    return Math.min(this.windowS, nowS - this.startS);
  }

  ratePerS(nowS: number): number {
    const from = nowS - this.windowS;
    while (this.head < this.times.length && this.times[this.head]! <= from) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head);
      this.head = 0;
    }
    const coverage = this.coverageS(nowS);
    return coverage > 0 ? (this.times.length - this.head) / coverage : 0;
  }
}

/** Exponentially weighted mean, for minibatch times. */
export class Ewma {
  private value: number | undefined;
  constructor(private readonly alpha = 0.2) {}
  add(x: number): void {
    this.value = this.value === undefined ? x : this.value + this.alpha * (x - this.value);
  }
  get(): number | undefined {
    return this.value;
  }
  reset(): void {
    this.value = undefined;
  }
}

export interface TimelinePoint {
  /** Bucket start, seconds. */
  readonly tS: number;
  readonly stream: string;
  /** Arrivals in the bucket divided by its width. */
  readonly arrivalRatePerS: number;
  /** The executor's sliding-window estimate at the bucket's end (what the re-plan trigger sees). */
  readonly measuredRatePerS: number;
  /** Batch size of the plan in force at the bucket's end. */
  readonly batchSize: number;
  readonly latencyBudgetS: number;
  /** Of requests answered in the bucket; NaN when none. */
  readonly latencyP99S: number;
  readonly latencyMaxS: number;
  readonly trainThroughputSamplesPerS: number;
  readonly planId: string;
}

interface Bucket {
  arrivals: Map<string, number>;
  latencies: Map<string, number[]>;
  trainSamples: number;
  state: Map<string, { measuredRatePerS: number; batchSize: number; latencyBudgetS: number }>;
  planId: string;
}

/** Per-bucket arrivals, latencies, plan and training samples: the data behind the timeline plot. */
export class Timeline {
  private readonly buckets: Bucket[] = [];
  readonly bucketS: number;

  constructor(bucketS: number) {
    this.bucketS = bucketS;
  }

  private bucket(tS: number): Bucket {
    const i = Math.max(0, Math.floor(tS / this.bucketS));
    while (this.buckets.length <= i) {
      const prev = this.buckets[this.buckets.length - 1];
      this.buckets.push({ arrivals: new Map(), latencies: new Map(), trainSamples: 0, state: new Map(prev?.state ?? []), planId: prev?.planId ?? '' });
    }
    return this.buckets[i]!;
  }

  arrival(tS: number, stream: string): void {
    const b = this.bucket(tS);
    b.arrivals.set(stream, (b.arrivals.get(stream) ?? 0) + 1);
  }

  answered(tS: number, stream: string, latencyS: number): void {
    const b = this.bucket(tS);
    let list = b.latencies.get(stream);
    if (!list) b.latencies.set(stream, (list = []));
    list.push(latencyS);
  }

  trained(tS: number, samples: number): void {
    this.bucket(tS).trainSamples += samples;
  }

  state(tS: number, planId: string, streams: ReadonlyArray<{ stream: string; measuredRatePerS: number; batchSize: number; latencyBudgetS: number }>): void {
    const b = this.bucket(tS);
    b.planId = planId;
    for (const s of streams) b.state.set(s.stream, { measuredRatePerS: s.measuredRatePerS, batchSize: s.batchSize, latencyBudgetS: s.latencyBudgetS });
  }

  points(): TimelinePoint[] {
    const out: TimelinePoint[] = [];
    this.buckets.forEach((b, i) => {
      for (const [stream, st] of b.state) {
        const lat = (b.latencies.get(stream) ?? []).slice().sort((x, y) => x - y);
        out.push({
          tS: i * this.bucketS,
          stream,
          arrivalRatePerS: (b.arrivals.get(stream) ?? 0) / this.bucketS,
          measuredRatePerS: st.measuredRatePerS,
          batchSize: st.batchSize,
          latencyBudgetS: st.latencyBudgetS,
          latencyP99S: lat.length ? lat[Math.min(lat.length - 1, Math.ceil(0.99 * lat.length) - 1)]! : Number.NaN,
          latencyMaxS: lat.length ? lat[lat.length - 1]! : Number.NaN,
          trainThroughputSamplesPerS: b.trainSamples / this.bucketS,
          planId: b.planId,
        });
      }
    });
    return out;
  }
}
