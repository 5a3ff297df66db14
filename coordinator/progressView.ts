/** The CLI's live view: a progress bar with img/s and ETA on a terminal; nothing on a pipe. */
import cliProgress from 'cli-progress';
import type { JobStats } from './job.ts';

export interface ProgressView {
  update(stats: JobStats): void;
  setTotal(total: number): void;
  /** Prints a line without tearing the bar. */
  log(line: string): void;
  stop(): void;
}

export function createProgressView(enabled: boolean): ProgressView {
  if (!enabled) {
    return {
      update() {},
      setTotal() {},
      log: (line) => process.stderr.write(`${line}\n`),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} rows | {rate} img/s | {errors} errors | ETA {eta_formatted}',
      barsize: 30,
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1, 0, { rate: '0.0', errors: 0 });
  return {
    update(stats) {
      const elapsed = (Date.now() - stats.startedAt) / 1000;
      bar.update(stats.done, { rate: elapsed > 0 ? (stats.done / elapsed).toFixed(1) : '0.0', errors: stats.errors });
    },
    setTotal(total) {
      bar.setTotal(Math.max(total, 1));
    },
    log(line) {
      process.stderr.write(`\r\x1b[K${line}\n`);
      bar.render();
    },
    stop() {
      bar.stop();
    },
  };
}
