/**
 * The Node API, in this process: `readImages(dir).mapBatches(Actor, { compute: ActorPool(...) })`
 * and a write, with actors that speak the real protocol and run the job's actor on
 * onnxruntime-node. Rows equal onnxruntime-node's; iterRows() gives every row once; drain() ends
 * with whole rows; a bad option throws the CLI's coded error before anything starts; nothing is
 * printed unless a logger is given.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ActorPool, Classifier, JobFailedError, readImages, readRecords, TabpoolError, type Row } from '../../../coordinator/api/index.ts';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, ROOT } from '../../support/coordinatorProcess.ts';
import { referenceFeatures, relativeL2 } from '../../support/featureReference.ts';
import { readDataset } from '../../support/parquetReader.ts';
import { referencePredictions, type ReferencePrediction } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 24;
let tmp: string;
let data: string;
let files: { id: string; path: string }[];
let reference: Map<string, ReferencePrediction>;
const common = { model: 'resnet18-tiny', cacheDir: CACHE_DIR, batchSize: 4, compute: ActorPool({ min: 1, max: 2 }) } as const;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-api-'));
  data = path.join(tmp, 'data');
  files = await writeTestPngs(data, IMAGES, 64, 64, 23);
  reference = await referencePredictions((await ensureBuiltinModel(CACHE_DIR, 'tiny')).path, files);
});
after(() => fs.rm(tmp, { recursive: true, force: true }));

function expectClasses(rows: Row[]): void {
  assert.equal(rows.length, IMAGES);
  assert.equal(new Set(rows.map((r) => r.id)).size, IMAGES, 'every input once');
  for (const r of rows) assert.equal(r.class, reference.get(r.id)!.top1, `${r.id}: top-1 as onnxruntime-node`);
}

/** Captures what the process prints while `body` runs (printing it as well). */
async function printed(body: () => Promise<void>): Promise<string> {
  let text = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const spy = (write: typeof out) =>
    ((chunk: string | Uint8Array, ...rest: never[]) => ((text += String(chunk)), write(chunk, ...rest))) as typeof out;
  process.stdout.write = spy(out);
  process.stderr.write = spy(err);
  try {
    await body();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return text;
}

test('readImages → mapBatches(Classifier, ActorPool) → writeJsonl: rows as onnxruntime-node predicts, and nothing printed', async () => {
  const out = path.join(tmp, 'classes.jsonl');
  let summary;
  const text = await printed(async () => {
    const job = readImages(data).mapBatches(Classifier, common).writeJsonl(out);
    const { workerUrl } = await job.started;
    assert.equal(job.workerUrl, workerUrl);
    await startActors(workerUrl, 2, { mode: 'real' });
    summary = await job.done;
  });
  assert.equal(text, '', 'the API prints nothing without a logger');
  assert.equal(summary!.status, 'done');
  assert.equal(summary!.rows.written, IMAGES);
  const rows = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
  expectClasses(rows);
});

test('a logger gets the plan and the log, as the CLI shows them', async () => {
  const lines: string[] = [];
  const job = readImages(data)
    .mapBatches(Classifier, { ...common, logger: { info: (l) => lines.push(l) } })
    .writeCsv(path.join(tmp, 'logged.csv'));
  await startActors((await job.started).workerUrl, 1, { mode: 'real' });
  await job.done;
  assert.ok(
    lines.some((l) => /resnet18-tiny/.test(l) && /24 (images|inputs)/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /actor-1 ready/.test(l)),
    lines.join('\n'),
  );
});

test('a user actor by path to Parquet: embeddings equal onnxruntime-node on the same tensors', async () => {
  const out = path.join(tmp, 'emb.parquet');
  const job = readImages(data)
    .mapBatches(path.join(ROOT, 'examples', 'embed.ts'), { ...common, model: 'resnet18-tiny-features', actorConfig: { dim: 64 } })
    .writeParquet(out);
  await startActors((await job.started).workerUrl, 2, { mode: 'real' });
  assert.equal((await job.done).rows.written, IMAGES);
  const features = await referenceFeatures((await ensureBuiltinModel(CACHE_DIR, 'tiny', true)).path, files, 64);
  const rows = await readDataset(out);
  assert.equal(rows.length, IMAGES);
  for (const r of rows) assert.ok(relativeL2(r.embedding as number[], features.get(r.id as string)!) < 1e-5, `${String(r.id)}`);
});

/** A records actor passed by value: its source is all it has (no imports, no outer variables). */
class Summer {
  static inputs = 'record' as const;
  static outputs = { total: 'float64', fields: 'int32' } as const;
  async init(): Promise<void> {}
  async call(batch: { records: Record<string, unknown>[] }): Promise<Record<string, unknown>[]> {
    return batch.records.map((r) => ({ total: Number(r.a) + Number(r.b), fields: Object.keys(r).length }));
  }
}

test('a user actor class by value over records, iterRows(): every row once, in memory, as the class computes it', async () => {
  const records = path.join(tmp, 'records.jsonl');
  const n = 30;
  await fs.writeFile(records, Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, a: i, b: i * 0.5 })).join('\n') + '\n');
  const stream = readRecords(records)
    .mapBatches(Summer, { cacheDir: CACHE_DIR, batchSize: 4, compute: ActorPool(2) })
    .iterRows();
  void stream.job.started.then((s) => startActors(s.workerUrl, 2, { mode: 'real' }));
  const rows: Row[] = [];
  for await (const row of stream) rows.push(row);
  assert.equal(rows.length, n);
  assert.deepEqual(rows.map((r) => r.id).sort(), Array.from({ length: n }, (_, i) => `r${i}`).sort());
  for (const r of rows) assert.equal(r.total, Number(r.id.slice(1)) * 1.5, r.id);
});

test('drain(): no new batches, the ones on actors finish, whole rows only, and done resolves as interrupted', async () => {
  const out = path.join(tmp, 'drained.jsonl');
  const job = readImages(data)
    .mapBatches(Classifier, { ...common, verify: 0 })
    .writeJsonl(out);
  const hold = actorsHoldingAfter(2);
  const actors = await startActors((await job.started).workerUrl, 2, hold.options);
  for (;;) {
    const p = job.progress();
    if (p && p.done >= 8) break;
    await new Promise((r) => job.once('progress', r));
  }
  job.drain();
  hold.release();
  const summary = await job.done;
  await actors.closed;
  assert.equal(summary.status, 'interrupted');
  const rows = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
  assert.ok(rows.length >= 8 && rows.length < IMAGES, `${rows.length} rows`);
  for (const r of rows) assert.equal(r.class, reference.get(r.id)!.top1);
});

test('a bad option is thrown as the CLI’s coded error, naming the option, before anything starts', () => {
  const expect = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof TabpoolError && e.code === 'BAD_ARGUMENT' && re.test(e.message));
  const ds = readImages(data);
  expect(() => ds.mapBatches(Classifier, { numGpus: 2 }).writeJsonl(path.join(tmp, 'x.jsonl')), /^numGpus 2: .* at most 1 GPU/);
  expect(() => ds.mapBatches(Classifier, { compute: ActorPool({ min: 3, max: 2 }) }).writeJsonl(path.join(tmp, 'x.jsonl')), /^compute /);
  expect(() => ds.mapBatches(Classifier, { batchSize: 0 }).writeJsonl(path.join(tmp, 'x.jsonl')), /batchSize "0"/);
  expect(() => ds.mapBatches(Classifier, { gpus: 1 } as never).writeJsonl(path.join(tmp, 'x.jsonl')), /no option "gpus"/);
  expect(() => ds.mapBatches(Classifier).writeParquet(path.join(tmp, 'x.jsonl')), /must end in \.parquet/);
});

test('a job that cannot start rejects done with its coded error and summary (JobFailedError)', async () => {
  const job = readImages(path.join(tmp, 'nowhere')).mapBatches(Classifier, common).writeJsonl(path.join(tmp, 'never.jsonl'));
  await assert.rejects(job.started);
  await assert.rejects(
    job.done,
    (e: unknown) => e instanceof JobFailedError && e.code === 'DATA_NOT_FOUND' && e.summary.status === 'failed',
  );
});
