/**
 * Progress of a long sweep: a cli-progress bar when the stream is a terminal, otherwise a
 * structured pino log line (via @fulcrum/runtime) at every 10% and at the end.
 */
import cliProgress from 'cli-progress';
import { createLogger } from '@fulcrum/runtime';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export function createProgress(options: { label: string; stream?: NodeJS.WriteStream; logName?: string }): Progress {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: `${options.label} [{bar}] {percentage}% | {value}/{total} configurations | {duration_formatted} elapsed, eta {eta_formatted}`, etaBuffer: 200, fps: 5 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total) {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const log = createLogger({ name: options.logName ?? 'fulcrum-bench', destination: stream, pretty: false });
  const t0 = performance.now();
  let nextTenth = 1;
  let last = { done: 0, total: 0 };
  return {
    update(done, total) {
      last = { done, total };
      if (total > 0 && done >= (nextTenth * total) / 10 && nextTenth <= 10) {
        log.info({ label: options.label, done, total, elapsedS: Number(((performance.now() - t0) / 1000).toFixed(1)) }, 'bench progress');
        while (nextTenth <= 10 && done >= (nextTenth * total) / 10) nextTenth++;
      }
    },
    stop() {
      if (nextTenth <= 10 && last.total > 0) log.info({ label: options.label, done: last.done, total: last.total }, 'bench progress');
    },
  };
}
