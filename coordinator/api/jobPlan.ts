/**
 * Everything a job is made of, resolved and checked before any browser starts: the actor (the
 * built-in classifier on --model, or the user's --actor module, bundled, checked and dry-run on
 * its first inputs), its files (every --model), the dataset (images, records or files, as the actor
 * reads them), and what each actor reserves. A bad flag, module, model or dataset fails here, exit 2.
 */
import { dryRun, DRY_RUN_INPUTS } from '../actor/dryRun.ts';
import type { NodeInput } from '../actor/nodeActor.ts';
import { estimateActorMemory, maxBatchFor } from '../actor/actorMemory.ts';
import { GENERATE, generatorConfig, generatorModule } from '../actor/builtinGenerator.ts';
import { builtinClassifier, userActor, type ResolvedActor } from '../actor/resolveActor.ts';
import type { JobContent } from '../actor/tabSpec.ts';
import { ensureSampleDataset } from '../builtin/sampleImages.ts';
import { ensureSampleRecords } from '../builtin/sampleRecords.ts';
import { AUTO_MAX_BATCH } from '../host/batchPlan.ts';
import { countDataset, openDataset, type Dataset, type DatasetCount } from '../io/dataset.ts';
import { readDatasetItem, type UrlResolver } from '../io/datasetFeeder.ts';
import { openRecords } from '../io/recordDataset.ts';
import { s3Settings, s3UrlResolver } from '../io/s3Inputs.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import { classifierFiles, resolveActorFiles, totalBytes, type JobFile } from '../model/jobFiles.ts';
import { resolveModel, type ResolvedModel } from '../model/modelSource.ts';
import type { ActorInputs } from '../../shared/actorApi.ts';
import { TabpoolError } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/units.ts';

export interface JobPlan {
  dataDir: string;
  dataset: Dataset;
  count: DatasetCount;
  resolveUrl: UrlResolver | undefined;
  /** The file named `model` (`ctx.model`), as a model: the classifier's, or a user actor's single --model. */
  model: ResolvedModel | null;
  /** Every file the actor gets (`ctx.models`). */
  files: JobFile[];
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

/** What --data holds by what the actor reads: a hint for an empty dataset. */
const LOOKED_FOR: Readonly<Record<ActorInputs, [string, string]>> = {
  image: ['inputs (looked for .png .jpg .jpeg .gif .webp .bmp files, or manifest lines)', 'a folder of images'],
  record: ['records', 'a file of records'],
  file: ['files (looked for every file but dotfiles, or manifest lines)', 'a folder of files'],
};

export async function planJob(o: JobOptions, cacheDir: string): Promise<JobPlan> {
  const notes: string[] = [];
  let model: ResolvedModel | null;
  let files: JobFile[];
  let actor: ResolvedActor;
  if (o.actor === GENERATE) {
    const resolved = await resolveActorFiles(o.models, cacheDir);
    model = null;
    files = resolved.files;
    if (o.data === null)
      throw new TabpoolError(
        'BAD_ARGUMENT',
        '--actor generate reads records with a prompt or messages: pass --data, a .jsonl, .csv or .parquet file of them',
      );
    const config = await generatorConfig(o.actorConfig, files, await openRecords(o.data));
    actor = { ...(await userActor(generatorModule(), config, null, cacheDir)), name: 'built-in generator' };
  } else if (o.actor) {
    const resolved = await resolveActorFiles(o.models, cacheDir);
    model = resolved.model;
    files = resolved.files;
    actor = await userActor(o.actor, o.actorConfig, resolved.imageSize, cacheDir);
  } else {
    if (o.models.length > 1 || (o.models[0] ?? '').includes('='))
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--model ${o.models.join(' --model ')}: the built-in classifier runs one model; several files (NAME=PATH, a ` +
          'folder) are for your own actor (--actor)',
      );
    model = await resolveModel(o.models[0] ?? 'resnet18', cacheDir, true);
    files = classifierFiles(model);
    for (const note of model.info!.notes) notes.push(note);
    if (o.topK > model.info!.numClasses)
      notes.push(`--top-k ${o.topK} is more than the model's ${model.info!.numClasses} classes; rows name all ${model.info!.numClasses}`);
    actor = builtinClassifier(model, o);
  }
  const records = actor.inputs === 'record';
  const dataDir = o.data ?? (records ? await ensureSampleRecords(cacheDir) : await ensureSampleDataset(cacheDir));
  if (o.data === null && actor.inputs === 'file')
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--actor ${actor.name} reads files (static inputs = 'file'): pass --data, a folder of them or a manifest`,
    );
  const dataset = records ? await openRecords(dataDir) : await openDataset(dataDir, actor.inputs === 'file' ? 'file' : 'image');
  const count = await countDataset(dataset);
  if (count.total === 0) {
    const [looked, fix] = LOOKED_FOR[actor.inputs];
    throw new TabpoolError('DATA_EMPTY', `--data ${dataDir} has no ${looked}; point it at ${fix}`);
  }
  const resolveUrl = count.s3 > 0 ? await s3UrlResolver(s3Settings(o.s3Endpoint)) : undefined;
  if (o.s3Endpoint !== null && count.s3 === 0) notes.push(`--s3-endpoint ${o.s3Endpoint} is not used: the dataset names no s3:// inputs`);
  if (o.exifTranspose && actor.inputs !== 'image')
    notes.push(`--exif-transpose does nothing here: ${actor.name} reads ${actor.inputs}s, not images`);
  const content: JobContent = {
    files,
    module: actor.module && { sha256: actor.module.sha256, path: actor.module.file, bytes: actor.module.code.byteLength },
    config: actor.config,
    inputs: actor.inputs,
    preprocess: actor.preprocess,
    exifTranspose: o.exifTranspose && actor.inputs === 'image',
    columns: actor.columns,
  };
  if (actor.module) notes.push(await dryRun(actor, files, await firstInputs(dataset, actor.inputs, resolveUrl), content));
  const memory = { modelBytes: totalBytes(files), inputs: actor.inputs, preprocess: actor.preprocess, declared: actor.memory };
  const actorMemory = o.memoryBytes ?? estimateActorMemory(memory, o.batchSize === 'auto' ? AUTO_MAX_BATCH : o.batchSize);
  const maxBatch = Math.min(AUTO_MAX_BATCH, maxBatchFor(memory, actorMemory));
  return { dataDir, dataset, count, resolveUrl, model, files, actor, content, actorMemory, maxBatch, notes };
}

/** The first inputs the coordinator can read itself (a URL input it cannot fetch is passed over), for the dry run. */
async function firstInputs(dataset: Dataset, inputs: ActorInputs, resolveUrl: UrlResolver | undefined): Promise<NodeInput[]> {
  const found: NodeInput[] = [];
  let seen = 0;
  for await (const item of dataset.items()) {
    if (++seen > DRY_RUN_SCAN || found.length >= DRY_RUN_INPUTS) break;
    const r = await readDatasetItem(item, inputs, undefined, resolveUrl);
    if ('bytes' in r) found.push({ id: r.id, bytes: r.bytes });
  }
  return found;
}

/** The model line of the run's banner: what runs, on what, over what. */
export function describePlan(p: JobPlan): string {
  const m = p.model;
  const others = p.files.filter((f) => f.name !== 'model');
  const named = others
    .slice(0, 4)
    .map((f) => `${f.name} (${formatBytes(f.bytes)})`)
    .join(', ');
  const more = others.length > 4 ? ` and ${others.length - 4} more` : '';
  const files = others.length ? `${m ? ' + ' : ''}${others.length} file${others.length === 1 ? '' : 's'}: ${named}${more}` : '';
  const model = m
    ? m.info
      ? `${m.name} (${m.info.inputName} [N,3,${m.info.inputShape.height},${m.info.inputShape.width}] → ` +
        `${m.info.outputName} [N,${m.info.numClasses}], sha256 ${m.sha256.slice(0, 12)}…)${files}`
      : `${m.name} (sha256 ${m.sha256.slice(0, 12)}…)${files}`
    : files || 'no model';
  const columns = p.actor.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
  const remote = p.count.http + p.count.s3 ? ` (${p.count.http + p.count.s3} fetched by the tabs themselves)` : '';
  return (
    `tabpool: ${p.actor.name} on ${model} → ${columns}; ${p.count.total} ${p.actor.inputs === 'image' ? 'inputs' : `${p.actor.inputs}s`} ` +
    `from ${p.dataset.describe}${remote}`
  );
}
