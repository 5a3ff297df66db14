/**
 * `--out NAME.parquet` end to end: a real coordinator and real (onnxruntime-node) actors. The
 * dataset reads back, by an independent reader, as the JSONL output of the same job; a job
 * SIGKILLed mid-run and resumed gives every input exactly once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';
import { committedParts, readDataset } from '../../support/parquetReader.ts';
import { until } from '../../support/queueJob.ts';
import { readRows } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 60;
let tmp: string;
let data: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-parquet-cli-'));
  data = path.join(tmp, 'data');
  await writeTestPngs(data, IMAGES, 64, 64, 29);
});
after(() => fs.rm(tmp, { recursive: true, force: true }));

async function run(out: string, flags: JobFlags = {}, actors = { mode: 'real' as const }): Promise<void> {
  const c = await startCoordinator(jobArgv({ model: 'resnet18-tiny', data, out, batchSize: 4, pool: 2, logits: true, ...flags }));
  await startActors(c.workerUrl, 2, actors);
  assert.equal(await c.exited, 0, c.stderr());
}

test('a Parquet dataset reads back, by an independent reader, as the JSONL output of the same job', async () => {
  const jsonl = path.join(tmp, 'same.jsonl');
  const parquet = path.join(tmp, 'same.parquet');
  await run(jsonl);
  await run(parquet, { rowsPerPart: 16 });
  assert.ok((await committedParts(parquet)).length >= 4, 'rows go into several whole parts');
  const fromParquet = new Map((await readDataset(parquet)).map((r) => [r.id as string, r]));
  const fromJsonl = await readRows(jsonl);
  assert.equal(fromParquet.size, IMAGES);
  assert.equal(fromJsonl.length, IMAGES);
  for (const row of fromJsonl) {
    const p = fromParquet.get(row.id)!;
    assert.equal(p.class, row.class, row.id);
    assert.equal(p.label, row.label, row.id);
    assert.equal(p.score, row.score, row.id);
    assert.deepEqual(
      p.topk,
      row.topk!.map((e) => ({ class: e.class, score: e.score })),
      row.id,
    );
    assert.deepEqual(p.logits, row.logits, row.id);
    assert.equal(p.error_code, null);
  }
});

test('a Parquet job SIGKILLed mid-run and resumed gives every input exactly once', async () => {
  const out = path.join(tmp, 'killed.parquet');
  const c = await startCoordinator(jobArgv({ model: 'resnet18-tiny', data, out, batchSize: 4, pool: 2, rowsPerPart: 8, verify: 1 }));
  // The actors answer until three parts are committed, then stall: the kill lands with parts
  // committed and rows pending, whatever the machine's speed or which batches the checks picked.
  let stalled = false;
  await startActors(c.workerUrl, 2, {
    mode: 'real',
    delayMs: 50,
    onBatch: async (batch, actor) => {
      if (!stalled) actor.send(await actor.answer(batch));
    },
  });
  await until('three parts committed', async () => (await committedParts(out).catch(() => [])).length >= 3, 90_000);
  stalled = true;
  c.kill('SIGKILL');
  await c.exited;
  const before = (await readDataset(out)).length;
  assert.ok(before > 0 && before < IMAGES, `${before} rows committed before the kill`);
  const again = await startCoordinator(jobArgv({ model: 'resnet18-tiny', data, out, batchSize: 4, pool: 2, rowsPerPart: 8, resume: true }));
  await startActors(again.workerUrl, 2, { mode: 'real' });
  assert.equal(await again.exited, 0, again.stderr());
  const ids = (await readDataset(out)).map((r) => r.id as string);
  assert.equal(ids.length, IMAGES, 'no input twice');
  assert.equal(new Set(ids).size, IMAGES, 'no input missing');
  assert.match(again.stdout(), new RegExp(`${IMAGES - before} rows .* ${before} already done before --resume`));
});
