/**
 * A running job, as the API hands it out and the CLI drives it: everything is resolved and checked
 * (actor, files, data, output) before any browser starts (prepareJob.ts), then the job's mode opens
 * (modes/: in this process, on a standing pool, on a queue), it is supervised the same way whatever
 * the mode (superviseJob.ts), and `done` settles with its summary. It prints nothing and installs no
 * signal handler: lines go to the `plan` and `log` events (and to a logger, when given one), progress
 * to `progress`; the caller decides what Ctrl-C means (`drain()`, `cancel()`).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import type { JobStatus } from '../../shared/status.ts';
import { formatBytes } from '../../shared/units.ts';
import { TARGET_BATCH_SECONDS } from '../host/batchPlan.ts';
import type { Ending, JobMode, OpenedMode, StartedJob } from '../modes/jobMode.ts';
import { inProcessMode } from '../modes/inProcessMode.ts';
import { queueMode } from '../modes/queueMode.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { JobProgress, RunningJob } from '../output/runningJob.ts';
import { EXIT, exitCodeFor } from './exitCodes.ts';
import { describePlan } from './jobPlan.ts';
import { prepareJob, type PreparedJob } from './prepareJob.ts';
import { summarize, type RunSummary } from './summary.ts';
import { superviseJob } from './superviseJob.ts';

export type { StartedJob };

/** Where a job's lines go when the caller wants them: `console` fits. */
export interface Logger {
  info(line: string): void;
}

/** A failed job's error: the coded error, with the run's summary (rows written before it failed, resumable). */
export class JobFailedError extends TabpoolError {
  constructor(
    error: TabpoolError,
    readonly summary: RunSummary,
  ) {
    super(error.code, error.message);
  }
}

export interface TabpoolJobEvents {
  plan: [line: string];
  log: [line: string];
  progress: [progress: JobProgress];
  started: [started: StartedJob];
}

export class TabpoolJob extends EventEmitter<TabpoolJobEvents> {
  /** Settles when the job ends: its summary (done or drained), or a JobFailedError carrying it. */
  readonly done: Promise<RunSummary>;
  /** Settles once tabs can join (the server listens): the worker URL is known from then on. */
  readonly started: Promise<StartedJob>;
  private startedWith: StartedJob | null = null;
  private running: RunningJob | null = null;
  private described: Pick<RunSummary, 'model' | 'actor'> = { model: null, actor: null };
  private pendingStop: 'drain' | 'cancel' | null = null;
  private cancelled = false;
  private cancelReason = 'cancelled';
  private markStarted!: (s: StartedJob) => void;
  private failStart!: (e: unknown) => void;

  /** @internal Made by `MappedDataset.write*()` and the CLI, from options already checked. */
  constructor(
    private readonly options: JobOptions,
    hooks: { logger?: Logger } = {},
  ) {
    super();
    const logger = hooks.logger;
    if (logger) {
      this.on('plan', (line) => logger.info(line));
      this.on('log', (line) => logger.info(line));
    }
    this.started = new Promise((resolve, reject) => {
      this.markStarted = resolve;
      this.failStart = reject;
    });
    this.started.catch(() => undefined);
    // Started on the next tick, so that listeners added right after construction hear every line.
    this.done = new Promise<void>((r) => setImmediate(r)).then(() => this.run());
    this.done.catch(() => undefined);
  }

  /** The worker page's URL once the job serves tabs (`await job.started`); null before. */
  get workerUrl(): string | null {
    return this.startedWith?.workerUrl ?? null;
  }

  /** Hands out no new batches; those already on actors finish, their rows are written, and `done` resolves (status `interrupted`). */
  drain(): void {
    if (this.running) this.running.drain();
    else this.pendingStop ??= 'drain';
  }

  /** Stops at once: `done` rejects (JOB_FAILED, with `reason`); the output holds whole rows only, resumable. */
  cancel(reason = 'cancelled'): void {
    this.cancelled = true;
    this.cancelReason = reason;
    if (this.running) this.running.fail(new TabpoolError('JOB_FAILED', reason));
    else this.pendingStop = 'cancel';
  }

  /** The job's status (what /api/status serves), or null before it starts serving. */
  status(): JobStatus | null {
    return this.running && this.startedWith ? this.running.status(this.startedWith.join) : null;
  }

  /** Rows written, in flight, and the rate so far; null before the job starts. */
  progress(): JobProgress | null {
    return this.running?.progress() ?? null;
  }

  private async run(): Promise<RunSummary> {
    const events = { log: (line: string) => void this.emit('log', line), progress: () => this.emitProgress() };
    const tick = setInterval(() => this.emitProgress(), 1000);
    tick.unref();
    let prepared: PreparedJob | null = null;
    let opened: OpenedMode<RunningJob> | null = null;
    let ending: Ending = { status: 'failed', message: 'the job did not start' };
    try {
      if (this.pendingStop === 'cancel') throw new TabpoolError('JOB_FAILED', this.cancelReason);
      prepared = await prepareJob(this.options, events);
      this.described = prepared.described;
      opened = await modeFor(prepared).open();
      this.running = opened.job;
      this.announce(await opened.started, prepared);
      const { total } = prepared.context.job;
      const done = await superviseJob(opened.job, {
        total,
        sink: prepared.sink,
        pendingStop: this.pendingStop,
        cancelReason: this.cancelReason,
      });
      ending = done.ending;
      return this.summary(done.summary);
    } catch (e) {
      this.running?.fail(e);
      this.failStart(e);
      const error = serializeError(e, 'JOB_FAILED');
      ending = { status: this.cancelled ? 'cancelled' : 'failed', message: formatError(error) };
      const summary = this.summary({ status: 'failed', exitCode: this.cancelled ? EXIT.interrupted : exitCodeFor(error.code), error });
      throw new JobFailedError(new TabpoolError(error.code, error.message), summary);
    } finally {
      clearInterval(tick);
      await opened?.close(ending);
      await prepared?.close();
    }
  }

  /** The job serves: its plan and join lines said, `started` settled. */
  private announce(started: StartedJob, p: PreparedJob): void {
    const o = this.options;
    const say = (line: string): void => void this.emit('plan', line);
    say(describePlan(p.plan));
    if (o.on === null) {
      const batching =
        o.batchSize === 'auto' ? `auto (each actor's measured speed × ${TARGET_BATCH_SECONDS} s, up to ${p.plan.maxBatch})` : o.batchSize;
      say(
        `pool ${o.pool.min}..${o.pool.max}, batch size ${batching}, ep ${o.ep}, per-actor budget ` +
          `${o.numGpus ?? (o.ep === 'wasm' ? 0 : o.ep === 'webgpu' ? 1 : '1 (webgpu) or 0 (wasm)')} ` +
          `GPU / ${o.numCpus ?? 0} CPU / ${formatBytes(p.plan.actorMemory)}`,
      );
    }
    for (const note of started.notes) say(note);
    // One line: whoever reads the output (a person, a script) gets the join block whole.
    if (started.banner.length) say(started.banner.join('\n'));
    this.startedWith = started;
    this.markStarted(started);
    this.emit('started', started);
  }

  private emitProgress(): void {
    if (this.running) this.emit('progress', this.running.progress());
  }

  private summary(base: Pick<RunSummary, 'status' | 'exitCode' | 'error'>): RunSummary {
    const figures = this.running?.figures() ?? null;
    const checked = this.running?.output.verifyCounts;
    const verify =
      checked && this.running && figures
        ? { rate: this.options.verifyRate, ...checked, barredActors: this.running.output.barred, barredHosts: figures.barredHosts }
        : null;
    return summarize(
      { ...base, model: this.described.model, actor: this.described.actor, output: path.resolve(this.options.out), verify },
      figures,
    );
  }
}

/** The mode the options ask for: a queue, or this process (its tabs served here or lent by a standing pool). */
function modeFor(p: PreparedJob): JobMode<RunningJob> {
  const dirs = { cacheDir: p.cacheDir, webRoot: p.webRoot };
  return p.context.options.queue ? queueMode(p.context, dirs) : inProcessMode(p.context, dirs);
}

/** Writes a summary as JSON (the CLI's --summary-json). */
export async function writeSummaryJson(file: string, summary: RunSummary): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
}
