/**
 * What `run --queue` does before its first unit: connect, create (or, resuming, find) the job's
 * streams and buckets, publish the spec and the model every gateway serves from, take the next
 * incarnation, and start the gateway for its own tabs.
 */
import { randomBytes } from 'node:crypto';
import { TabpoolError } from '../../shared/errors.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import { outputsRecord, storedFiles, tabSpecFor, wirePreprocess, type JobContent } from '../actor/tabSpec.ts';
import type { RowRules } from '../host/resultCheck.ts';
import { Gateway } from './gateway.ts';
import { pinnedThreads } from '../pool/threadShare.ts';
import {
  connectQueue,
  ensureStreams,
  newSecret,
  nextIncarnation,
  putFile,
  putSpec,
  putState,
  readSpec,
  readState,
  type QueueConnection,
  type QueueJobSpec,
} from './jobStore.ts';

export interface OpenedQueueJob {
  q: QueueConnection;
  spec: QueueJobSpec;
  incarnation: number;
  gateway: Gateway;
  /** The job had state on the queue already (a resumed run). */
  resumed: boolean;
  close(): Promise<void>;
}

/** A job name for `run --queue` without `--job`: printed, for gateways and --resume. */
export function freshJobName(): string {
  return `job-${randomBytes(4).toString('hex')}`;
}

/** What `run` publishes of the job for every gateway: its actor and model, and what each actor reserves. */
export interface PublishedJob {
  /** In words, for messages: `built-in classifier on resnet18`. */
  name: string;
  content: JobContent;
  /** The model's fixed batch dimension, or null. */
  fixedBatch: number | null;
  actorMemory: number;
  maxBatch: number;
  rules: RowRules;
}

export async function openQueueJob(
  o: JobOptions,
  job: string,
  published: PublishedJob,
  token: string,
  log: (line: string) => void,
): Promise<OpenedQueueJob> {
  const { content, actorMemory, maxBatch } = published;
  const q = await connectQueue(o.queue!, job);
  try {
    const existing = await readSpec(q);
    if (existing && !o.resume) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `job ${job} already exists on ${o.queue!.join(',')} (phase ${(await readState(q)).phase}): add --resume ` +
          `to continue it, or choose another --job`,
      );
    }
    const key = (files: readonly { name: string; sha256: string }[], module: { sha256: string } | null): string =>
      JSON.stringify([files.map((f) => [f.name, f.sha256]), module?.sha256 ?? null]);
    if (existing && key(existing.tab.files, existing.tab.module) !== key(content.files, content.module)) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `job ${job} runs ${existing.modelName}, not ${published.name} (another model or actor module): resume ` +
          `it with the same --model and --actor`,
      );
    }
    const numThreads = pinnedThreads(o.numCpus) ?? 1;
    const spec: QueueJobSpec = {
      v: 1,
      // A resumed job keeps its secret: gateways still running sign and check with it.
      secret: existing?.secret ?? newSecret(),
      modelName: published.name,
      tab: {
        files: content.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })),
        module: content.module && { sha256: content.module.sha256, bytes: content.module.bytes },
        config: content.config,
        inputs: content.inputs,
        preprocess: wirePreprocess(content.preprocess),
        exifTranspose: content.exifTranspose,
        outputs: outputsRecord(content.columns),
        numThreads,
        allowSoftwareGpu: o.allowSoftwareGpu,
        recycle: o.recycle,
      },
      ep: o.ep,
      allowSoftwareGpu: o.allowSoftwareGpu,
      numGpus: o.numGpus,
      numCpus: o.numCpus,
      actorMemory,
      maxTasksInFlight: o.maxTasksInFlight,
      batchTimeoutMs: o.batchTimeoutMs,
      pool: o.pool,
      ackWaitMs: o.ackWaitMs,
      maxRetries: o.maxRetries,
      batchSize: o.batchSize,
      maxBatch,
      fixedBatch: published.fixedBatch,
      stallTimeoutMs: o.stallTimeoutMs,
    };
    await ensureStreams(q, o.ackWaitMs);
    for (const f of storedFiles(content)) await putFile(q, f);
    await putSpec(q, spec);
    const incarnation = await nextIncarnation(q);
    const barred = existing ? (await readState(q)).barred : [];
    await putState(q, { phase: 'running', reason: null, barred });
    const jobSpec = tabSpecFor(content, token, { numThreads, allowSoftwareGpu: o.allowSoftwareGpu, recycle: o.recycle });
    const gateway = new Gateway({ q, spec, gatewayId: `run-${randomBytes(3).toString('hex')}`, jobSpec, rules: published.rules, log });
    await gateway.start();
    return {
      q,
      spec,
      incarnation,
      gateway,
      resumed: existing !== null,
      close: async () => {
        await gateway.stop().catch(() => undefined);
        await q.nc.drain().catch(() => undefined);
      },
    };
  } catch (err) {
    await q.nc.close().catch(() => undefined);
    throw err;
  }
}
