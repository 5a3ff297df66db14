/**
 * Everything a job is made of, resolved and checked before any browser starts: the actor (the
 * built-in classifier on --model, or the user's --actor module, bundled, checked and dry-run on
 * the first input), the model, the dataset (images, or records for a records actor), and what each
 * actor reserves. A bad flag, module, model or dataset fails here, exit 2.
 */
import { dryRun } from '../actor/dryRun.ts';
import { estimateActorMemory, maxBatchFor } from '../actor/actorMemory.ts';
import { builtinClassifier, userActor, type ResolvedActor } from '../actor/resolveActor.ts';
import type { JobContent } from '../actor/tabSpec.ts';
import { ensureSampleDataset } from '../builtin/sampleImages.ts';
import { ensureSampleRecords } from '../builtin/sampleRecords.ts';
import { AUTO_MAX_BATCH } from '../host/batchPlan.ts';
import { countDataset, openDataset, type Dataset, type DatasetCount } from '../io/dataset.ts';
import { readDatasetItem, type UrlResolver } from '../io/datasetFeeder.ts';
import { openRecords } from '../io/recordDataset.ts';
import { s3Settings, s3UrlResolver } from '../io/s3Inputs.ts';
import type { JobOptions } from '../jobOptions.ts';
import { resolveModel, type ResolvedModel } from '../model/modelSource.ts';
import { TabpoolError } from '../../shared/errors.ts';

export interface JobPlan {
  dataDir: string;
  dataset: Dataset;
  count: DatasetCount;
  resolveUrl: UrlResolver | undefined;
  model: ResolvedModel | null;
  actor: ResolvedActor;
  content: JobContent;
  /** Bytes each actor reserves on its host, and the largest batch that holds (--batch-size auto). */
  actorMemory: number;
  maxBatch: number;
  /** Notes for the log (assumptions made, flags that do nothing here, the dry run). */
  notes: string[];
}

/** How many dataset rows the dry run looks through for a first input it can use. */
const DRY_RUN_SCAN = 32;

export async function planJob(o: JobOptions, cacheDir: string): Promise<JobPlan> {
  const notes: string[] = [];
  let model: ResolvedModel | null;
  let actor: ResolvedActor;
  if (o.actor) {
    model = o.model === null ? null : await resolveModel(o.model, cacheDir, false);
    actor = await userActor(o.actor, o.actorConfig, model, cacheDir);
  } else {
    model = await resolveModel(o.model ?? 'resnet18', cacheDir, true);
    for (const note of model.info!.notes) notes.push(note);
    if (o.topK > model.info!.numClasses)
      notes.push(`--top-k ${o.topK} is more than the model's ${model.info!.numClasses} classes; rows name all ${model.info!.numClasses}`);
    actor = builtinClassifier(model, o);
  }
  const records = actor.inputs === 'record';
  const dataDir = o.data ?? (records ? await ensureSampleRecords(cacheDir) : await ensureSampleDataset(cacheDir));
  const dataset = records ? await openRecords(dataDir) : await openDataset(dataDir);
  const count = await countDataset(dataset);
  if (count.total === 0) {
    const looked = records ? 'records' : 'inputs (looked for .png .jpg .jpeg .gif .webp .bmp files, or manifest lines)';
    throw new TabpoolError(
      'DATA_EMPTY',
      `--data ${dataDir} has no ${looked}; point it at ${records ? 'a file of records' : 'a folder of images'}`,
    );
  }
  const resolveUrl = count.s3 > 0 ? await s3UrlResolver(s3Settings(o.s3Endpoint)) : undefined;
  if (o.s3Endpoint !== null && count.s3 === 0) notes.push(`--s3-endpoint ${o.s3Endpoint} is not used: the dataset names no s3:// inputs`);
  if (actor.module) notes.push(await dryRun(actor, model, await firstInput(dataset, resolveUrl)));
  const memory = { modelBytes: model?.bytes.byteLength ?? 0, inputs: actor.inputs, preprocess: actor.preprocess, declared: actor.memory };
  const actorMemory = o.memoryBytes ?? estimateActorMemory(memory, o.batchSize === 'auto' ? AUTO_MAX_BATCH : o.batchSize);
  const maxBatch = Math.min(AUTO_MAX_BATCH, maxBatchFor(memory, actorMemory));
  const content: JobContent = {
    model: model && { sha256: model.sha256, bytes: model.bytes },
    module: actor.module && { sha256: actor.module.sha256, bytes: actor.module.code },
    config: actor.config,
    inputs: actor.inputs,
    preprocess: actor.preprocess,
    columns: actor.columns,
  };
  return { dataDir, dataset, count, resolveUrl, model, actor, content, actorMemory, maxBatch, notes };
}

/** The first input the coordinator can read itself (a URL input it cannot fetch is passed over), for the dry run. */
async function firstInput(dataset: Dataset, resolveUrl: UrlResolver | undefined): Promise<{ id: string; bytes: Uint8Array } | null> {
  let seen = 0;
  for await (const item of dataset.items()) {
    if (++seen > DRY_RUN_SCAN) break;
    const r = await readDatasetItem(item, undefined, resolveUrl);
    if ('bytes' in r) return { id: r.id, bytes: r.bytes };
  }
  return null;
}

/** The model line of the run's banner: what runs, on what, over what. */
export function describePlan(p: JobPlan): string {
  const m = p.model;
  const model = m
    ? m.info
      ? `${m.name} (${m.info.inputName} [N,3,${m.info.inputShape.height},${m.info.inputShape.width}] → ` +
        `${m.info.outputName} [N,${m.info.numClasses}], sha256 ${m.sha256.slice(0, 12)}…)`
      : `${m.name} (sha256 ${m.sha256.slice(0, 12)}…)`
    : 'no model';
  const columns = p.actor.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
  const remote = p.count.http + p.count.s3 ? ` (${p.count.http + p.count.s3} fetched by the tabs themselves)` : '';
  return (
    `tabpool: ${p.actor.name} on ${model} → ${columns}; ${p.count.total} ${p.actor.inputs === 'record' ? 'records' : 'inputs'} ` +
    `from ${p.dataset.describe}${remote}`
  );
}
