/**
 * `tabpool run`: resolve and check everything (model, data, output) before any browser starts,
 * then serve, launch or wait for tabs, run the job, print the summary, and return the exit code.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatError, serializeError, TabpoolError } from '../shared/errors.ts';
import { formatBytes } from '../shared/units.ts';
import { attachActorSocket } from './actorSocket.ts';
import { countDataset, openDataset } from './dataset.ts';
import { Job } from './job.ts';
import type { JobOptions } from './jobOptions.ts';
import { jobStatus } from './jobStatus.ts';
import { launchTabs, findChromium, type LaunchedTabs } from './launcher.ts';
import { estimateActorMemory, resolveModel } from './modelSource.ts';
import { OutputSink } from './outputSink.ts';
import { createProgressView } from './progressView.ts';
import { ensureSampleDataset } from './sample/sampleImages.ts';
import { startServer } from './server.ts';
import { statusPageHtml } from './statusPage.ts';
import { ensureWebBuild } from './webBuild.ts';

export const EXIT = { ok: 0, failed: 1, badInput: 2, someErrors: 3, interrupted: 130 } as const;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RunHooks {
  /** Called with the server's URLs once it listens (tests read them). */
  onListening?(urls: { statusUrl: string; workerUrl: string; port: number }): void;
  signal?: AbortSignal;
  overwrite?: boolean;
}

export async function runJob(options: JobOptions, hooks: RunHooks = {}): Promise<number> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const err = (line: string): void => void process.stderr.write(`${line}\n`);
  let launched: LaunchedTabs | null = null;
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let sink: OutputSink | null = null;
  let interrupts = 0;
  try {
    // Everything that can be wrong with the job's inputs fails here, before any browser starts.
    if (options.launch > 0) findChromium();
    const cacheDir = path.resolve(options.cacheDir);
    const dataDir = options.data ?? (await ensureSampleDataset(cacheDir));
    const dataset = await openDataset(dataDir);
    const total = await countDataset(dataset);
    if (total === 0) throw new TabpoolError('DATA_EMPTY', `--data ${dataDir} has no inputs (looked for .png .jpg .jpeg .gif .webp .bmp files, or manifest lines); point it at a folder of images`);
    const model = await resolveModel(options.model, cacheDir);
    for (const note of model.info.notes) err(`note: ${note}`);
    const webRoot = await ensureWebBuild(ROOT);
    sink = await OutputSink.open(options.out, options.format, { resume: options.resume, overwrite: hooks.overwrite ?? false });
    const priorErrors = sink.doneErrors;
    if (sink.repairedTornLine) err(`resume: dropped a torn last line from ${options.out} (a crash mid-write)`);
    if (options.resume) err(`resume: ${sink.done.size} rows already in ${options.out}; they are skipped`);

    const actorMemory = options.memoryBytes ?? estimateActorMemory(model, options.batchSize);
    const token = options.token ?? randomBytes(18).toString('base64url');
    const view = createProgressView(process.stderr.isTTY === true && !options.quiet);
    const log = (line: string): void => {
      if (!options.quiet) view.log(line);
    };
    const job = new Job(options, model, dataset, sink, { log, progress: (s) => view.update(s) }, actorMemory, (sha) => `/model/${sha}.onnx?token=${token}`);
    const tls = options.tlsCert && options.tlsKey ? { cert: await fs.readFile(options.tlsCert), key: await fs.readFile(options.tlsKey) } : null;
    let workerUrl = '';
    server = await startServer({
      host: options.host,
      port: options.port,
      token,
      webRoot,
      tls,
      maxPayload: 8 * 2 ** 20 + (options.logits ? options.batchSize * model.info.numClasses * 32 : 0),
      model: { sha256: model.sha256, bytes: model.bytes },
      status: () => jobStatus(job),
      statusPage: () => statusPageHtml(token, workerUrl),
      onSocket: (ws, remote) => attachActorSocket(ws, remote, { maxMessagesPerSecond: options.maxMessagesPerSecond, heartbeatMs: 15_000 }, { onMessage: (l, m) => job.onMessage(l, m), onClose: (l, c, r) => job.onClose(l, c, r), log }),
      log,
    });
    workerUrl = server.workerUrl;
    out(`tabpool: ${model.name} (${model.info.inputName} [N,3,${model.info.inputShape.height},${model.info.inputShape.width}] → ${model.info.outputName} [N,${model.info.numClasses}], ${formatBytes(model.bytes.byteLength)}, sha256 ${model.sha256.slice(0, 12)}…) over ${total} inputs from ${dataset.describe}`);
    out(`pool ${options.pool.min}..${options.pool.max}, batch size ${options.batchSize}, ep ${options.ep}, per-actor budget ${options.numGpus ?? (options.ep === 'wasm' ? 0 : options.ep === 'webgpu' ? 1 : '1 (webgpu) or 0 (wasm)')} GPU / ${options.numCpus ?? 0} CPU / ${formatBytes(actorMemory)}`);
    out(`worker page (open in any browser to join): ${server.workerUrl}`);
    out(`status page: ${server.url}`);
    hooks.onListening?.({ statusUrl: server.url, workerUrl: server.workerUrl, port: server.port });
    view.setTotal(total - sink.done.size);

    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        log('interrupt: draining — no new batches; in-flight ones finish. Press Ctrl-C again to stop at once.');
        job.drain();
      } else {
        log('second interrupt: stopping now; the output so far is resumable with --resume');
        job.fail(new TabpoolError('JOB_FAILED', 'stopped by a second Ctrl-C'));
      }
    };
    process.on('SIGINT', onSigint);
    hooks.signal?.addEventListener('abort', onSigint);
    job.start(total);
    // The job can fail while tabs are still launching: observe its end from the start.
    job.done.catch(() => undefined);
    try {
      if (options.launch > 0) {
        launched = await launchTabs(options.launch, server.workerUrl, options.quiet ? undefined : (i, line) => {
          if (/error|fail/i.test(line)) log(`tab ${i}: ${line}`);
        });
      }
      await job.done;
    } catch (e) {
      job.fail(e);
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
      hooks.signal?.removeEventListener('abort', onSigint);
      view.stop();
    }
    await sink.close();
    sink = null;
    const s = job.stats;
    const elapsed = ((s.finishedAt ?? Date.now()) - s.startedAt) / 1000;
    out('');
    out(`done: ${s.done} rows (${s.done - s.errors} predictions, ${s.errors} errors${s.skipped ? `, ${s.skipped} already done before --resume` : ''}) in ${elapsed.toFixed(1)}s — ${(s.done / Math.max(elapsed, 1e-9)).toFixed(2)} img/s`);
    if (priorErrors > 0) out(`${priorErrors} of the rows from before --resume are errors`);
    if (s.firstPredictionAt) out(`time to first prediction: ${((s.firstPredictionAt - s.startedAt) / 1000).toFixed(1)}s`);
    if (s.workStartedAt && s.finishedAt && s.finishedAt > s.workStartedAt) {
      out(`steady throughput (from the pool being ready to the last row): ${((s.done * 1000) / (s.finishedAt - s.workStartedAt)).toFixed(2)} img/s`);
    }
    const p50 = s.dispatchLatency.percentile(50);
    const p99 = s.dispatchLatency.percentile(99);
    const rt99 = s.latency.percentile(99);
    if (p50 !== null && p99 !== null && rt99 !== null) {
      out(`dispatch: ${s.wire.batches} batches, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms (result in → next batch out); round trip p99 ${rt99.toFixed(1)} ms`);
    }
    if (s.wire.images > 0) out(`wire: ${(s.wire.frameBytes / s.wire.images).toFixed(1)} bytes/image sent for ${(s.wire.itemBytes / s.wire.images).toFixed(1)} bytes/image of files`);
    if (s.decodedImages > 0) out(`worker decode + preprocess: ${(s.decodeMs / s.decodedImages).toFixed(2)} ms/image`);
    for (const [id, a] of s.perActor) out(`  ${id} (${a.ep}, host ${a.host}): ${a.images} images`);
    out(`output: ${path.resolve(options.out)}`);
    if (job.interrupted) return EXIT.interrupted;
    return s.errors + priorErrors > 0 ? EXIT.someErrors : EXIT.ok;
  } catch (e) {
    const se = serializeError(e, 'JOB_FAILED');
    err(`tabpool: ${formatError(se)}`);
    if (interrupts >= 2) return EXIT.interrupted;
    const early = ['BAD_ARGUMENT', 'DATA_NOT_FOUND', 'DATA_EMPTY', 'BAD_MANIFEST', 'MODEL_NOT_FOUND', 'MODEL_NOT_ONNX', 'MODEL_NOT_CLASSIFIER', 'MODEL_OPSET_UNSUPPORTED', 'BROWSER_NOT_FOUND'];
    return early.includes(se.code) ? EXIT.badInput : EXIT.failed;
  } finally {
    await sink?.close().catch(() => undefined);
    await launched?.close();
    await server?.close();
  }
}
