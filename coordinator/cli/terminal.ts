/**
 * What a person sees while a job runs. On a terminal: log lines scroll above a progress bar that
 * appears once there is work (cli-progress's MultiBar prints its `log` lines above its bars, so
 * neither tears the other). On a pipe (CI, a file): no bar, a plain progress line now and then.
 * Every line meant for a person goes through here while the job runs.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  total: number | null;
  done: number;
  errors: number;
  /** Wall-clock ms when dispatch began, or null while no work runs. */
  workStartedAt: number | null;
}

export interface LiveView {
  /** A log line, printed whole on its own line. */
  log(line: string): void;
  /** Progress changed (rows written). */
  update(p: Progress): void;
  /** The job ended: the bar (if any) is finished and taken down. */
  stop(): void;
}

export type ViewMode = 'bar' | 'lines' | 'quiet';

/** How often a non-terminal gets a progress line. */
const PLAIN_EVERY_MS = 10_000;

function rate(p: Progress, now: number): number | null {
  if (p.workStartedAt === null || p.done === 0) return null;
  const s = (now - p.workStartedAt) / 1000;
  return s > 0 ? p.done / s : null;
}

function eta(p: Progress, now: number): string {
  const r = rate(p, now);
  if (r === null || p.total === null) return '–';
  const s = Math.max(0, (p.total - p.done) / r);
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** `120/256 rows (46.9%) | 17.2 img/s | 0 errors | ETA 8s`: the plain line, and the bar's text. */
export function describeProgress(p: Progress, now = Date.now()): string {
  const r = rate(p, now);
  const of = p.total === null ? `${p.done} rows` : `${p.done}/${p.total} rows (${((100 * p.done) / Math.max(1, p.total)).toFixed(1)}%)`;
  return `${of} | ${r === null ? '–' : r.toFixed(1)} img/s | ${p.errors} errors | ETA ${eta(p, now)}`;
}

export function createLiveView(mode: ViewMode, stream: NodeJS.WriteStream = process.stderr): LiveView {
  if (mode === 'quiet') return { log() {}, update() {}, stop() {} };
  if (mode === 'lines') return plainView(stream);
  return barView(stream);
}

function plainView(stream: NodeJS.WriteStream): LiveView {
  let last: Progress | null = null;
  let printed = '';
  const print = (): void => {
    if (!last || last.workStartedAt === null) return;
    const line = describeProgress(last);
    if (line === printed) return;
    printed = line;
    stream.write(`progress: ${line}\n`);
  };
  const timer = setInterval(print, PLAIN_EVERY_MS);
  timer.unref();
  return {
    log: (line) => void stream.write(`${line}\n`),
    update: (p) => {
      last = { ...p };
    },
    stop: () => {
      clearInterval(timer);
      print();
    },
  };
}

function barView(stream: NodeJS.WriteStream): LiveView {
  const multi = new cliProgress.MultiBar(
    {
      format: ' {bar} {progress}',
      barsize: 30,
      hideCursor: true,
      stream,
      fps: 5,
      // Ctrl-C drains the job: the bar must stay up until the job's own stop, not vanish at the signal.
      gracefulExit: false,
      linewrap: false,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | null = null;
  let last: Progress | null = null;
  return {
    log(line) {
      // Before the bar exists nothing else draws on the terminal: a plain line is whole.
      if (bar) multi.log(`${line}\n`);
      else stream.write(`${line}\n`);
    },
    update(p) {
      last = { ...p };
      // The bar appears with the work: no "0/1 rows" before the total is known, no ETA while nothing runs.
      if (!bar && p.workStartedAt !== null && p.total !== null) {
        bar = multi.create(Math.max(1, p.total), p.done, { progress: describeProgress(p) });
      }
      bar?.update(p.done, { progress: describeProgress(p) });
    },
    stop() {
      if (bar && last) bar.update(last.done, { progress: describeProgress(last) });
      if (bar) {
        // Draws the last state and prints any log lines still buffered, then leaves the bar as it ended.
        multi.update();
        multi.stop();
      }
      bar = null;
    },
  };
}
