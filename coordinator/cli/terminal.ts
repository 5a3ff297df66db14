/**
 * What a person sees while a job runs. On a terminal: log lines scroll above a progress bar that
 * appears once there is work (cli-progress's MultiBar prints its `log` lines above its bars, so
 * neither tears the other). On a pipe (CI, a file): no bar, a plain progress line now and then.
 * Every line meant for a person goes through here while the job runs.
 */
import cliProgress from 'cli-progress';

/** What the view shows of a job: the job's own stats fit it. */
export interface Progress {
  total: number | null;
  done: number;
  errors: number;
  /** Wall-clock ms when dispatch began, or null while no work runs. */
  workStartedAt: number | null;
  /** What a row is of: images (img/s) or other items (items/s). */
  unit?: 'img' | 'item';
  /** A generation job's tokens so far: its rate is shown in tokens a second, prompt and generated apart. */
  tokens?: { prompt: number; generated: number } | null;
}

/** The live view of a running job; its lines for a person go through it while the job runs. */
export interface LiveView {
  /** A log line, printed whole on its own line. */
  log(line: string): void;
  /** Progress changed (rows written), or time passed (the rate and ETA move); ignored after `stop`. */
  update(p: Progress): void;
  /** The job ended: the bar (if any) is drawn a last time and left on the screen. A second call does nothing. */
  stop(): void;
}

/** `bar` for a terminal, `lines` for a pipe or a file, `quiet` for nothing but the summary. */
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
  return s >= 3600
    ? `${(s / 3600).toFixed(1)}h`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
      : `${Math.round(s)}s`;
}

/**
 * `120/256 rows (46.9%) | 17.2 img/s | 0 errors | ETA 8s` (a generation job adds its tokens a second): the plain
 * line, and the bar's text.
 */
export function describeProgress(p: Progress, now = Date.now()): string {
  const r = rate(p, now);
  const of = p.total === null ? `${p.done} rows` : `${p.done}/${p.total} rows (${((100 * p.done) / Math.max(1, p.total)).toFixed(1)}%)`;
  const speed = `${r === null ? '–' : r.toFixed(1)} ${p.unit === 'item' ? 'items' : 'img'}/s`;
  const s = p.workStartedAt === null ? 0 : (now - p.workStartedAt) / 1000;
  const tokens =
    p.tokens && s > 0 ? ` | ${(p.tokens.generated / s).toFixed(1)} tok/s generated, ${(p.tokens.prompt / s).toFixed(1)} tok/s prompt` : '';
  return `${of} | ${speed}${tokens} | ${p.errors} errors | ETA ${eta(p, now)}`;
}

/** The view for `mode`, writing to `stream` (stderr: stdout may carry the `--json` summary). */
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
  let stopped = false;
  return {
    log: (line) => void stream.write(`${line}\n`),
    update: (p) => {
      if (!stopped) last = { ...p };
    },
    stop: () => {
      // The job's end and the run's cleanup both stop the view: one last line, not two.
      if (stopped) return;
      stopped = true;
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
      // With `false` cli-progress turns the terminal's autowrap off while the bar is up, which cuts
      // every log line at the right edge; with `true` autowrap stays on and it cuts only the bar.
      linewrap: true,
      // A redraw flushes log lines onto the bar's row; an unchanged bar (a stall) must be drawn again below them.
      forceRedraw: true,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | null = null;
  let last: Progress | null = null;
  let stopped = false;
  return {
    log(line) {
      // Before the bar exists nothing else draws on the terminal: a plain line is whole.
      if (bar) multi.log(`${line}\n`);
      else stream.write(`${line}\n`);
    },
    update(p) {
      // A late update must not bring back a bar that was already taken down.
      if (stopped) return;
      last = { ...p };
      // The bar appears with the work: no "0/1 rows" before the total is known, no ETA while nothing runs.
      if (!bar && p.workStartedAt !== null && p.total !== null) {
        bar = multi.create(Math.max(1, p.total), p.done, { progress: describeProgress(p) });
      }
      bar?.update(p.done, { progress: describeProgress(p) });
    },
    stop() {
      stopped = true;
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
