/**
 * A running job, as the API hands it out and the CLI drives it: everything is resolved and checked
 * (actor, model, data, output) before any browser starts (jobPlan.ts), then tabs are served, launched
 * or awaited, the job runs, and `done` settles with its summary. It prints nothing and installs no
 * signal handler: lines go to the `plan` and `log` events (and to a logger, when given one), progress
 * to `progress`; the caller decides what Ctrl-C means (`drain()`, `cancel()`).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import type { JobStatus } from '../../shared/status.ts';
import { formatBytes } from '../../shared/units.ts';
import { rowRules } from '../actor/actorFromContent.ts';
import { maxAnswerBytes, servedFiles, storedFiles, tabSpecFor } from '../actor/tabSpec.ts';
import { ensureChromium } from '../browser/getBrowser.ts';
import { launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { TARGET_BATCH_SECONDS } from '../host/batchPlan.ts';
import { readInput } from '../io/inputReader.ts';
import { openSink, type JobSink } from '../io/outputSink.ts';
import { Job } from '../job/job.ts';
import type { JobProgress, RunningJob } from '../job/runningJob.ts';
import type { JobOptions } from '../jobOptions.ts';
import type { ResolvedModel } from '../model/modelSource.ts';
import { AUTO_UNIT_SIZE, QueueRun } from '../queue/queueRun.ts';
import { freshJobName, openQueueJob, type OpenedQueueJob } from '../queue/queueSetup.ts';
import type { CoordinatorServer } from '../server/httpServer.ts';
import { actorVerification, referenceConfigOf } from '../verify/actorVerification.ts';
import { Reference } from '../verify/reference.ts';
import { RemotePool } from '../remote/remotePool.ts';
import { ROUTES } from '../../shared/routes.ts';
import { EXIT, exitCodeFor } from './exitCodes.ts';
import { describePlan, planJob } from './jobPlan.ts';
import { serveTabs } from './serveTabs.ts';
import { summarize, type RunSummary } from './summary.ts';

/** Where a job's lines go when the caller wants them: `console` fits. */
export interface Logger {
  info(line: string): void;
}

export interface StartedJob {
  /** The worker page this machine's tabs open; other machines use `join.workerUrls`. */
  workerUrl: string;
  join: JobStatus['join'];
  /** The lines a person joins with (worker URLs, status page, fingerprint, QR when asked). */
  banner: string[];
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
  private pendingStop: 'drain' | 'cancel' | null = null;
  private cancelled = false;
  private cancelReason = 'cancelled';
  private markStarted!: (s: StartedJob) => void;
  private failStart!: (e: unknown) => void;

  constructor(
    readonly options: JobOptions,
    hooks: { logger?: Logger; qr?: boolean } = {},
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
    this.done = new Promise<void>((r) => setImmediate(r)).then(() => this.run(hooks.qr ?? false));
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

  private async run(qr: boolean): Promise<RunSummary> {
    const options = this.options;
    const say = (line: string): void => void this.emit('plan', line);
    const log = (line: string): void => void this.emit('log', line);
    let launched: LaunchedTabs | null = null;
    let server: CoordinatorServer | null = null;
    let sink: JobSink | null = null;
    let queued: OpenedQueueJob | null = null;
    let reference: Reference | null = null;
    let model: ResolvedModel | null = null;
    let actorDescribed: RunSummary['actor'] = null;
    let remote: RemotePool | null = null;
    const tick = setInterval(() => {
      if (!this.running) return;
      const p = this.running.progress();
      this.emit('progress', p);
      remote?.progress({ total: p.total, done: p.done, errors: p.errors });
    }, 1000);
    tick.unref();
    const finish = (base: Pick<RunSummary, 'status' | 'exitCode' | 'error'>): RunSummary => {
      clearInterval(tick);
      const job = this.running;
      const figures = job?.figures() ?? null;
      const checked = job?.output.verifyStats;
      const verify =
        checked && job && figures
          ? { rate: options.verifyRate, ...checked, barredActors: job.output.barred, barredHosts: figures.barredHosts }
          : null;
      return summarize(
        {
          ...base,
          model: model && { name: model.name, sha256: model.sha256, builtin: model.builtin },
          actor: actorDescribed,
          output: path.resolve(options.out),
          verify,
        },
        figures,
      );
    };
    try {
      if (this.pendingStop === 'cancel') throw new TabpoolError('JOB_FAILED', this.cancelReason);
      // Everything that can be wrong with the job's inputs fails here, before any browser starts.
      if (options.launch > 0) await ensureChromium(log);
      const cacheDir = path.resolve(options.cacheDir);
      const plan = await planJob(options, cacheDir);
      const { actor, dataset, resolveUrl, actorMemory, maxBatch } = plan;
      model = plan.model;
      actorDescribed = { name: actor.name, inputs: actor.inputs };
      const files = plan.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes }));
      for (const note of plan.notes) log(`note: ${note}`);
      const webRoot = await ensureWebBuild(undefined, log);
      sink = await openSink(options.out, options.format, {
        resume: options.resume,
        overwrite: options.overwrite,
        columns: actor.columns,
        rowsPerPart: options.rowsPerPart,
      });
      if (sink.repairedTornLine) log(`resume: dropped a torn last record from ${options.out} (a crash mid-write)`);
      if (options.resume) log(`resume: ${sink.done.size} rows already in ${options.out}; they are skipped`);
      const token = options.token ?? randomBytes(18).toString('base64url');
      // The trusted reference: the job's own actor class, here, in a worker thread (--verify).
      const verified = { cls: actor.cls, config: actor.config, columns: actor.columns };
      reference =
        options.verifyRate > 0
          ? new Reference({
              actor: actor.module ? { kind: 'module', file: actor.module.file } : { kind: 'builtin' },
              files: plan.files.map((f) => ({ name: f.name, path: f.path })),
              config: referenceConfigOf(verified),
              kind: { inputs: actor.inputs, preprocess: actor.preprocess, exifTranspose: plan.content.exifTranspose },
              threads: options.verifyCpu,
            })
          : null;
      const verify = reference
        ? actorVerification(verified, reference, { rate: options.verifyRate, read: readInput, resolveUrl: resolveUrl ?? (async (s) => s) })
        : undefined;
      const rules = rowRules(actor.cls, actor);
      const fixedBatch = model?.info?.inputShape.batch ?? null;
      const events = { log, progress: () => this.running && this.emit('progress', this.running.progress()) };
      let job: RunningJob;
      if (options.queue) {
        const name = options.job ?? freshJobName();
        const published = {
          name: `${actor.name}${model ? ` on ${model.name}` : ''}`,
          content: plan.content,
          fixedBatch,
          actorMemory,
          maxBatch,
          rules,
        };
        queued = await openQueueJob(options, name, published, token, log);
        const unitSize = fixedBatch ?? (options.batchSize === 'auto' ? Math.min(AUTO_UNIT_SIZE, maxBatch) : options.batchSize);
        job = new QueueRun({
          ...queued,
          options,
          rules,
          actor: { name: actor.name, inputs: actor.inputs, files },
          keepBytes: actor.inputs === 'record',
          dataset,
          sink,
          events,
          unitSize,
          skippedErrors: sink.doneErrors,
          verify,
          resolveUrl,
        });
        say(
          `queue: job ${name} on ${options.queue.join(',')} (${queued.resumed ? `resumed, incarnation ${queued.incarnation}` : 'new'}), ` +
            `${unitSize} inputs per batch, ack wait ${options.ackWaitMs / 1000}s; more tabs join through: tabpool ` +
            `gateway --queue ${options.queue.join(',')} --job ${name} --launch K`,
        );
      } else {
        // On a standing pool the head serves the job's files to its tabs with a grant of the job's own.
        remote = options.on
          ? new RemotePool(
              options.on,
              options.submitToken ?? '',
              {
                name: `${actor.name}${model ? ` on ${model.name}` : ''}`,
                placement: {
                  pool: options.pool,
                  ep: options.ep,
                  allowSoftwareGpu: options.allowSoftwareGpu,
                  numGpus: options.numGpus,
                  numCpus: options.numCpus,
                  actorMemory,
                  weight: options.weight,
                  priority: options.priority,
                },
                out: path.resolve(options.out),
                total: plan.count.total,
                files: storedFiles(plan.content),
              },
              {
                onMessage: (l, m, at) => job.onMessage(l, m, at),
                onClose: (l, c, r) => job.onClose(l, c, r),
                retire: (l, r) => (job as Job).retire(l, r),
              },
              { log, cancel: () => this.drain(), fail: (err) => job.fail(err) },
            )
          : null;
        const spec = tabSpecFor(plan.content, remote?.grant ?? token, {
          numThreads: Math.max(1, Math.round(options.numCpus ?? 1)),
          recycle: options.recycle,
          allowSoftwareGpu: options.allowSoftwareGpu,
        });
        job = new Job({
          options,
          actor: { spec, fixedBatch, rules, name: actor.name, inputs: actor.inputs, files },
          dataset,
          sink,
          events,
          actorMemory,
          maxBatch,
          skippedErrors: sink.doneErrors,
          resolveUrl,
          verify,
        });
      }
      if (remote) {
        await remote.start();
        say(describePlan(plan));
        say(
          `on the standing pool at ${options.on} as job ${remote.jobId}: its tabs serve it; ` +
            `this process reads the data and writes ${options.out}`,
        );
        this.running = job;
        this.startedWith = { workerUrl: `${options.on}${ROUTES.workerPage}`, join: { workerUrls: [], tlsFingerprint: null }, banner: [] };
        this.markStarted(this.startedWith);
        this.emit('started', this.startedWith);
        job.start(plan.count.total);
        const stop = this.pendingStop as 'drain' | 'cancel' | null;
        if (stop === 'drain') job.drain();
        if (stop === 'cancel') job.fail(new TabpoolError('JOB_FAILED', this.cancelReason));
        await job.done;
        await sink.close();
        sink = null;
        const s = job.figures().stats;
        const last = job.progress();
        remote.progress({ total: last.total, done: last.done, errors: last.errors });
        remote.finish(job.interrupted ? 'cancelled' : 'done', job.interrupted ? 'drained; --resume finishes it' : `${s.done} rows`);
        if (job.interrupted) return finish({ status: 'interrupted', exitCode: EXIT.interrupted, error: null });
        return finish({ status: 'done', exitCode: s.errors + s.skippedErrors > 0 ? EXIT.someErrors : EXIT.ok, error: null });
      }
      const served = await serveTabs(
        { ...options, qr },
        {
          cacheDir,
          token,
          webRoot,
          maxPayload: maxAnswerBytes(actor.columns, options.batchSize === 'auto' ? maxBatch : options.batchSize),
          files: servedFiles(plan.content),
          status: (join) => job.status(join),
          target: () => job,
          log,
        },
      );
      server = served.server;
      say(describePlan(plan));
      const batching =
        options.batchSize === 'auto'
          ? `auto (each actor's measured speed × ${TARGET_BATCH_SECONDS} s, up to ${maxBatch})`
          : options.batchSize;
      say(
        `pool ${options.pool.min}..${options.pool.max}, batch size ${batching}, ep ${options.ep}, per-actor budget ` +
          `${options.numGpus ?? (options.ep === 'wasm' ? 0 : options.ep === 'webgpu' ? 1 : '1 (webgpu) or 0 (wasm)')} ` +
          `GPU / ${options.numCpus ?? 0} CPU / ${formatBytes(actorMemory)}`,
      );
      // One line: whoever reads the output (a person, a script) gets the join block whole.
      say(served.banner.join('\n'));
      for (const line of served.notes) log(line);
      this.running = job;
      this.startedWith = { workerUrl: served.workerUrl, join: served.join, banner: served.banner };
      this.markStarted(this.startedWith);
      this.emit('started', this.startedWith);
      job.start(plan.count.total);
      // The job can fail while tabs are still launching: observe its end from the start.
      job.done.catch(() => undefined);
      // drain() or cancel() may have come while the job was being set up.
      const stop = this.pendingStop as 'drain' | 'cancel' | null;
      if (stop === 'drain') job.drain();
      if (stop === 'cancel') job.fail(new TabpoolError('JOB_FAILED', this.cancelReason));
      if (options.launch > 0) {
        launched = await launchTabs(options.launch, served.workerUrl, { acceptSelfSigned: served.tls }, (i, line) => {
          if (/error|fail/i.test(line)) log(`tab ${i}: ${line}`);
        });
      }
      await job.done;
      await sink.close();
      sink = null;
      if (job.interrupted) return finish({ status: 'interrupted', exitCode: EXIT.interrupted, error: null });
      const s = job.figures().stats;
      return finish({ status: 'done', exitCode: s.errors + s.skippedErrors > 0 ? EXIT.someErrors : EXIT.ok, error: null });
    } catch (e) {
      this.running?.fail(e);
      this.failStart(e);
      const error = serializeError(e, 'JOB_FAILED');
      const last = this.running?.progress();
      if (last) remote?.progress({ total: last.total, done: last.done, errors: last.errors });
      remote?.finish(this.cancelled ? 'cancelled' : 'failed', formatError(error));
      const summary = finish({ status: 'failed', exitCode: this.cancelled ? EXIT.interrupted : exitCodeFor(error.code), error });
      throw new JobFailedError(new TabpoolError(error.code, error.message), summary);
    } finally {
      clearInterval(tick);
      await sink?.close().catch(() => undefined);
      await launched?.close();
      remote?.close();
      await server?.close();
      await queued?.close();
      await reference?.close();
    }
  }
}

/** Writes a summary as JSON (the CLI's --summary-json). */
export async function writeSummaryJson(file: string, summary: RunSummary): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
}
