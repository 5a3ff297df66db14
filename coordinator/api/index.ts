/**
 * `import … from 'tabpool'`: batch inference on a pool of browser tabs, as Ray Data's
 * `ds.map_batches(Model, compute=ActorPoolStrategy(...))` reads.
 *
 * ```ts
 * import { readImages, ActorPool } from 'tabpool';
 * const job = readImages('./images')
 *   .mapBatches('./embed.ts', { compute: ActorPool({ min: 2, max: 8 }), launch: 2 })
 *   .writeParquet('emb.parquet');
 * const { workerUrl } = await job.started;
 * const summary = await job.done;
 * ```
 *
 * @packageDocumentation
 */
export { default as Classifier, type ClassifierConfig } from '../../actors/classifier.ts';
export { default as Generator, type GeneratorConfig } from '../../actors/generator.ts';
export type { SamplingDefaults } from '../../actors/generation/requests.ts';
export type { Actor, ActorClass, ActorContext, ActorRow, ImageBatch, RecordBatch } from '../../shared/actorApi.ts';
export { ERROR_CODE_NAMES, ERROR_CODES, TabpoolError, type ErrorCode, type ErrorKind, type SerializedError } from '../../shared/errors.ts';
export type { ActorState, ActorStatus, HostStatus, JobStatus, ResourcesStatus, VerifyCounts } from '../../shared/status.ts';
export type { BarredActor } from '../output/jobOutput.ts';
export type { JobProgress } from '../output/runningJob.ts';
export { ActorPool, type ActorPoolStrategy, type Duration, type MapBatchesOptions, type WriteOptions } from './apiOptions.ts';
export {
  Dataset,
  MappedDataset,
  readImages,
  readManifest,
  readRecords,
  sampleImages,
  type ActorRef,
  type JobHooks,
  type Row,
  type RowStream,
} from './dataset.ts';
export type { RunSummary } from './summary.ts';
export { JobFailedError, TabpoolJob, type Logger, type StartedJob, type TabpoolJobEvents } from './tabpoolJob.ts';
