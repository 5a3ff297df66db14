/**
 * `tabpool run`: resolve and check everything (model, data, output) before any browser starts,
 * then serve, launch or wait for tabs, run the job, print the summary, and return the exit code.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/units.ts';
import { findChromium, launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { ensureSampleDataset } from '../builtin/sampleImages.ts';
import { countDataset, openDataset } from '../io/dataset.ts';
import { s3Settings, s3UrlResolver } from '../io/s3Inputs.ts';
import { readInput } from '../io/inputReader.ts';
import { openSink, type JobSink } from '../io/outputSink.ts';
import { Reference } from '../verify/reference.ts';
import { classifierDisagreement } from '../verify/agreement.ts';
import { classifierReference } from '../verify/referenceInputs.ts';
import type { VerifySettings } from '../job/jobOutput.ts';
import type { JobOptions } from '../jobOptions.ts';
import { estimateActorMemory, jobSpecFor, maxBatchFor, resolveModel, type ResolvedModel } from '../model/modelSource.ts';
import { AUTO_MAX_BATCH, TARGET_BATCH_SECONDS } from '../host/batchPlan.ts';
import { Job } from '../job/job.ts';
import type { CoordinatorServer } from '../server/httpServer.ts';
import { AUTO_UNIT_SIZE, QueueRun } from '../queue/queueRun.ts';
import { freshJobName, openQueueJob, type OpenedQueueJob } from '../queue/queueSetup.ts';
import type { RunningJob } from '../job/runningJob.ts';
import { serveTabs } from './serveTabs.ts';
import { EXIT, exitCodeFor } from './exitCodes.ts';
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
    const dataDir = options.data ?? (await ensureSampleDataset(cacheDir));
    const dataset = await openDataset(dataDir);
    const count = await countDataset(dataset);
    const total = count.total;
    if (total === 0)
      throw new TabpoolError(
        'DATA_EMPTY',
        `--data ${dataDir} has no inputs (looked for .png .jpg .jpeg .gif .webp .bmp files, or manifest lines); ` +
          `point it at a folder of images`,
      );
    const resolveUrl = count.s3 > 0 ? await s3UrlResolver(s3Settings(options.s3Endpoint)) : undefined;
    if (options.s3Endpoint !== null && count.s3 === 0)
      log(`note: --s3-endpoint ${options.s3Endpoint} is not used: the dataset names no s3:// inputs`);
    model = await resolveModel(options.model, cacheDir);
    for (const note of model.info.notes) log(`note: ${note}`);
    if (options.topK > model.info.numClasses)
      log(
        `note: --top-k ${options.topK} is more than the model's ${model.info.numClasses} classes; rows name all ${model.info.numClasses}`,
      );
    const webRoot = await ensureWebBuild();
    sink = await openSink(options.out, options.format, {
      resume: options.resume,
      overwrite: options.overwrite,
      logits: options.logits,
      numClasses: model.info.numClasses,
      rowsPerPart: options.rowsPerPart,
    });
    if (sink.repairedTornLine) log(`resume: dropped a torn last record from ${options.out} (a crash mid-write)`);
    if (options.resume) log(`resume: ${sink.done.size} rows already in ${options.out}; they are skipped`);

    const actorMemory =
      options.memoryBytes ?? estimateActorMemory(model, options.batchSize === 'auto' ? AUTO_MAX_BATCH : options.batchSize);
    const maxBatch = Math.min(AUTO_MAX_BATCH, maxBatchFor(model, actorMemory));
    const token = options.token ?? randomBytes(18).toString('base64url');
    // The trusted reference runs the model here, in a worker thread, for the checks (--verify).
    reference =
      options.verifyRate > 0
        ? new Reference({
            modelPath: model.path,
            inputName: model.info.inputName,
            outputName: model.info.outputName,
            height: model.info.inputShape.height,
            width: model.info.inputShape.width,
            numClasses: model.info.numClasses,
            fixedBatch: model.info.inputShape.batch,
          })
        : null;
    const verify: VerifySettings<Float32Array> | undefined = reference
      ? {
          rate: options.verifyRate,
          reference: classifierReference((bytes) => reference!.probabilities(bytes), readInput, resolveUrl ?? (async (s: string) => s)),
          compare: classifierDisagreement,
        }
      : undefined;
    const events = { log, progress: () => job && view.update(job.progress()) };
    let runningJob: RunningJob;
    if (options.queue) {
      const name = options.job ?? freshJobName();
      queued = await openQueueJob(options, name, model, { actorMemory, maxBatch }, token, log);
      const unitSize =
        model.info.inputShape.batch ?? (options.batchSize === 'auto' ? Math.min(AUTO_UNIT_SIZE, maxBatch) : options.batchSize);
      runningJob = new QueueRun({
        ...queued,
        options,
        labels: model.labels,
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
      const jobModel = {
        numClasses: model.info.numClasses,
        labels: model.labels,
        spec: jobSpecFor(model, options, token),
        fixedBatch: model.info.inputShape.batch,
      };
      runningJob = new Job({
        options,
        model: jobModel,
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
      maxPayload:
        8 * 2 ** 20 + (options.logits ? (options.batchSize === 'auto' ? maxBatch : options.batchSize) * model.info.numClasses * 32 : 0),
      model: { sha256: model.sha256, bytes: model.bytes },
      status: (join) => runningJob.status(join),
      target: () => runningJob,
      log,
    });
    server = served.server;
    const m = model.info;
    say(
      `tabpool: ${model.name} (${m.inputName} [N,3,${m.inputShape.height},${m.inputShape.width}] → ` +
        `${m.outputName} [N,${m.numClasses}], ${formatBytes(model.bytes.byteLength)}, sha256 ${model.sha256.slice(0, 12)}…) ` +
        `over ${total} inputs from ${dataset.describe}` +
        (count.http + count.s3 ? ` (${count.http + count.s3} fetched by the tabs themselves)` : ''),
    );
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
