/**
 * `tabpool run`: resolve and check everything (actor, model, data, output) before any browser
 * starts (jobPlan.ts), then serve, launch or wait for tabs, run the job, print the summary, and
 * return the exit code.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/units.ts';
import { rowRules } from '../actor/actorFromContent.ts';
import { maxAnswerBytes, servedFiles, tabSpecFor } from '../actor/tabSpec.ts';
import { findChromium, launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { TARGET_BATCH_SECONDS } from '../host/batchPlan.ts';
import { readInput } from '../io/inputReader.ts';
import { openSink, type JobSink } from '../io/outputSink.ts';
import { Job } from '../job/job.ts';
import type { RunningJob } from '../job/runningJob.ts';
import type { JobOptions } from '../jobOptions.ts';
import type { ResolvedModel } from '../model/modelSource.ts';
import { AUTO_UNIT_SIZE, QueueRun } from '../queue/queueRun.ts';
import { freshJobName, openQueueJob, type OpenedQueueJob } from '../queue/queueSetup.ts';
import type { CoordinatorServer } from '../server/httpServer.ts';
import { actorVerification, referenceConfigOf } from '../verify/actorVerification.ts';
import { Reference } from '../verify/reference.ts';
import { EXIT, exitCodeFor } from './exitCodes.ts';
import { describePlan, planJob } from './jobPlan.ts';
import { serveTabs } from './serveTabs.ts';
import { summarize, summaryLines, type RunSummary } from './summary.ts';
import { createLiveView, type LiveView } from './terminal.ts';

export interface RunHooks {
  signal?: AbortSignal;
}

export async function runJob(options: JobOptions, hooks: RunHooks = {}): Promise<number> {
  // With --json, stdout carries the summary object alone; every line for a person goes to stderr.
  const say = (line: string): void => void (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  const view: LiveView = createLiveView(options.quiet ? 'quiet' : process.stderr.isTTY ? 'bar' : 'lines');
  const log = (line: string): void => view.log(line);
  let launched: LaunchedTabs | null = null;
  let server: CoordinatorServer | null = null;
  let sink: JobSink | null = null;
  let job: RunningJob | null = null;
  let queued: OpenedQueueJob | null = null;
  let reference: Reference | null = null;
  let model: ResolvedModel | null = null;
  let actorDescribed: RunSummary['actor'] = null;
  let interrupts = 0;
  // The job reports progress as rows are written; this brings up the bar as soon as work starts,
  // before the first row, and keeps its rate and ETA current while no row comes.
  const tick = setInterval(() => job && view.update(job.progress()), 1000);
  tick.unref();
  const stopView = (): void => {
    clearInterval(tick);
    view.stop();
  };
  const finish = async (base: Pick<RunSummary, 'status' | 'exitCode' | 'error'>): Promise<number> => {
    stopView();
    const figures = job?.figures() ?? null;
    const checked = job?.output.verifyStats;
    const verify =
      checked && job && figures
        ? { rate: options.verifyRate, ...checked, barredActors: job.output.barred, barredHosts: figures.barredHosts }
        : null;
    const summary = summarize(
      {
        ...base,
        model: model && { name: model.name, sha256: model.sha256, builtin: model.builtin },
        actor: actorDescribed,
        output: path.resolve(options.out),
        verify,
      },
      figures,
    );
    if (base.error) process.stderr.write(`tabpool: ${formatError(base.error)}\n`);
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else if (base.status !== 'failed' || summary.rows.written > 0) for (const line of summaryLines(summary)) say(line);
    if (options.summaryJson) await fs.writeFile(options.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
    return base.exitCode;
  };
  try {
    // Everything that can be wrong with the job's inputs fails here, before any browser starts.
    if (options.launch > 0) findChromium();
    const cacheDir = path.resolve(options.cacheDir);
    const plan = await planJob(options, cacheDir);
    const { actor, dataset, resolveUrl, actorMemory, maxBatch } = plan;
    const total = plan.count.total;
    model = plan.model;
    actorDescribed = { name: actor.name, inputs: actor.inputs };
    for (const note of plan.notes) log(`note: ${note}`);
    const webRoot = await ensureWebBuild();
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
            modelPath: model?.path ?? null,
            config: referenceConfigOf(verified),
            inputs: actor.inputs,
            preprocess: actor.preprocess,
            threads: options.verifyCpu,
          })
        : null;
    const verify = reference
      ? actorVerification(verified, reference, { rate: options.verifyRate, read: readInput, resolveUrl: resolveUrl ?? (async (s) => s) })
      : undefined;
    const rules = rowRules(actor.cls, actor);
    const fixedBatch = model?.info?.inputShape.batch ?? null;
    const events = { log, progress: () => job && view.update(job.progress()) };
    let runningJob: RunningJob;
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
      runningJob = new QueueRun({
        ...queued,
        options,
        rules,
        actor: { name: actor.name, inputs: actor.inputs },
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
      const spec = tabSpecFor(plan.content, token, {
        numThreads: Math.max(1, Math.round(options.numCpus ?? 1)),
        allowSoftwareGpu: options.allowSoftwareGpu,
      });
      runningJob = new Job({
        options,
        actor: { spec, fixedBatch, rules, name: actor.name, inputs: actor.inputs },
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
    job = runningJob;
    const served = await serveTabs(options, {
      cacheDir,
      token,
      webRoot,
      maxPayload: maxAnswerBytes(actor.columns, options.batchSize === 'auto' ? maxBatch : options.batchSize),
      files: servedFiles(plan.content),
      status: (join) => runningJob.status(join),
      target: () => runningJob,
      log,
    });
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
    // One write: whoever reads the output (a person, a script) gets the join block whole.
    say(served.banner.join('\n'));
    for (const line of served.notes) log(line);
    const workerUrl = served.workerUrl;

    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        log('interrupt: draining — no new batches; in-flight ones finish. Press Ctrl-C again to stop at once.');
        runningJob.drain();
      } else {
        log('second interrupt: stopping now; the output so far is resumable with --resume');
        runningJob.fail(new TabpoolError('JOB_FAILED', 'stopped by a second Ctrl-C'));
      }
    };
    process.on('SIGINT', onSigint);
    hooks.signal?.addEventListener('abort', onSigint);
    runningJob.start(total);
    // The job can fail while tabs are still launching: observe its end from the start.
    runningJob.done.catch(() => undefined);
    try {
      if (options.launch > 0) {
        launched = await launchTabs(options.launch, workerUrl, { acceptSelfSigned: served.tls }, (i, line) => {
          if (/error|fail/i.test(line)) log(`tab ${i}: ${line}`);
        });
      }
      await runningJob.done;
    } finally {
      process.off('SIGINT', onSigint);
      hooks.signal?.removeEventListener('abort', onSigint);
    }
    await sink.close();
    sink = null;
    if (runningJob.interrupted) return await finish({ status: 'interrupted', exitCode: EXIT.interrupted, error: null });
    const s = runningJob.figures().stats;
    return await finish({ status: 'done', exitCode: s.errors + s.skippedErrors > 0 ? EXIT.someErrors : EXIT.ok, error: null });
  } catch (e) {
    job?.fail(e);
    const error = serializeError(e, 'JOB_FAILED');
    return await finish({ status: 'failed', exitCode: interrupts >= 2 ? EXIT.interrupted : exitCodeFor(error.code), error });
  } finally {
    stopView();
    await sink?.close().catch(() => undefined);
    await launched?.close();
    await server?.close();
    await queued?.close();
    await reference?.close();
  }
}
