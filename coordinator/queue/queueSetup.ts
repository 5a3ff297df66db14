/**
 * What `run --queue` does before its first unit: connect, create (or, resuming, find) the job's
 * streams and buckets, publish the spec and the model every gateway serves from, take the next
 * incarnation, and start the gateway for its own tabs.
 */
import { randomBytes } from 'node:crypto';
import { TabpoolError } from '../../shared/errors.ts';
import type { JobOptions } from '../jobOptions.ts';
import { jobSpecFor, type ResolvedModel } from '../model/modelSource.ts';
import { Gateway } from './gateway.ts';
import {
  connectQueue,
  ensureStreams,
  newSecret,
  nextIncarnation,
  putModel,
  putSpec,
  putState,
  readSpec,
  readState,
  tabSpec,
  type QueueJob,
  type QueueJobSpec,
} from './jobStore.ts';

export interface OpenedQueueJob {
  q: QueueJob;
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

export async function openQueueJob(
  o: JobOptions,
  job: string,
  model: ResolvedModel,
  budget: { actorMemory: number; maxBatch: number },
  token: string,
  log: (line: string) => void,
): Promise<OpenedQueueJob> {
  const { actorMemory, maxBatch } = budget;
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
    if (existing && existing.tab.modelSha256 !== model.sha256) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `job ${job} runs model ${existing.modelName} (sha256 ${existing.tab.modelSha256.slice(0, 12)}…), not ` +
          `${model.name} (${model.sha256.slice(0, 12)}…): resume it with the same --model`,
      );
    }
    const { modelUrl: _url, eps: _eps, ...tab } = jobSpecFor(model, o, token)(['wasm']);
    const spec: QueueJobSpec = {
      v: 1,
      // A resumed job keeps its secret: gateways still running sign and check with it.
      secret: existing?.secret ?? newSecret(),
      modelName: model.name,
      tab,
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
      fixedBatch: model.info.inputShape.batch,
      stallTimeoutMs: o.stallTimeoutMs,
    };
    await ensureStreams(q, o.ackWaitMs);
    await putModel(q, model.sha256, model.bytes);
    await putSpec(q, spec);
    const incarnation = await nextIncarnation(q);
    const barred = existing ? (await readState(q)).barred : [];
    await putState(q, { phase: 'running', reason: null, barred });
    const gateway = new Gateway({ q, spec, gatewayId: `run-${randomBytes(3).toString('hex')}`, jobSpec: tabSpec(spec, token), log });
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
