/**
 * A user's actor end to end with real processes: `tabpool run --actor examples/…` and actors that
 * speak the real protocol and run the module as a tab does (on onnxruntime-node). Embeddings equal
 * an independent onnxruntime-node run on the same tensors; Parquet reads back, by an independent
 * reader, with the declared types; SIGKILL + --resume is exact; a tab that alters its vectors is
 * caught by verification; a record the actor's code fails on gets an ACTOR_ERROR row naming it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { ensureScorer } from '../../../coordinator/builtin/scorerBuilder.ts';
import { CACHE_DIR, ROOT, startCoordinator } from '../../support/coordinatorProcess.ts';
import { referenceFeatures, referenceScores, relativeL2 } from '../../support/featureReference.ts';
import { committedParts, readDataset } from '../../support/parquetReader.ts';
import { startActors, type SimulatedActorOptions } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';
import { QueueProcesses, until } from '../../support/queueJob.ts';
import { startNats } from '../../support/natsServer.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';

const EMBED = path.join(ROOT, 'examples', 'embed.ts');
const SCORE = path.join(ROOT, 'examples', 'score.ts');
const IMAGES = 40;
let tmp: string;
let files: { id: string; path: string }[];
let features: Map<string, Float32Array>;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-user-actor-'));
  files = await writeTestPngs(path.join(tmp, 'data'), IMAGES, 64, 64, 41);
  features = await referenceFeatures((await ensureBuiltinModel(CACHE_DIR, 'tiny', true)).path, files, 64);
});
after(() => fs.rm(tmp, { recursive: true, force: true }));

const embedArgs = (out: string, flags: JobFlags = {}) =>
  jobArgv({
    actor: EMBED,
    model: 'resnet18-tiny-features',
    actorConfig: '{"dim":64}',
    data: path.join(tmp, 'data'),
    out,
    batchSize: 4,
    pool: 2,
    ...flags,
  });

function expectEmbeddings(rows: Record<string, unknown>[]): void {
  assert.equal(rows.length, IMAGES);
  for (const r of rows) {
    const ref = features.get(r.id as string)!;
    const v = r.embedding as number[];
    assert.equal(v.length, 64, `${String(r.id)}: 64 values`);
    assert.ok(relativeL2(v, ref) < 1e-5, `${String(r.id)}: ${relativeL2(v, ref)} from onnxruntime-node`);
    assert.ok(Math.abs((r.norm as number) - Math.hypot(...ref)) < 1e-4 * Math.hypot(...ref), `${String(r.id)}: norm`);
  }
}

test('embeddings to Parquet: a separate reader gets the declared types; vectors equal onnxruntime-node on the same tensors', async () => {
  const out = path.join(tmp, 'emb.parquet');
  const c = await startCoordinator(embedArgs(out, { rowsPerPart: 16 }));
  await startActors(c.workerUrl, 2, { mode: 'real' });
  assert.equal(await c.exited, 0, c.stderr());
  assert.match(c.stdout(), /examples\/embed\.ts on resnet18-tiny-features .* → embedding: float32\[64\], norm: float64/);
  assert.match(c.stderr(), /dry run on .*: init and call passed/);
  assert.ok((await committedParts(out)).length >= 2);
  const rows = await readDataset(out);
  expectEmbeddings(rows);
  assert.ok(rows.every((r) => Array.isArray(r.embedding) && typeof r.norm === 'number' && r.error_code === null));
});

test('embeddings to Parquet, SIGKILLed mid-job and resumed: every input exactly once, every vector right', async () => {
  const out = path.join(tmp, 'killed.parquet');
  const first = await startCoordinator(embedArgs(out, { rowsPerPart: 8, verify: 0 }));
  await startActors(first.workerUrl, 2, { mode: 'real', delayMs: 150 });
  await until('parts committed', async () => (await committedParts(out).catch(() => [])).length >= 2);
  first.kill('SIGKILL');
  await first.exited;
  const second = await startCoordinator(embedArgs(out, { rowsPerPart: 8, resume: true }));
  await startActors(second.workerUrl, 2, { mode: 'real' });
  assert.equal(await second.exited, 0, second.stderr());
  const rows = await readDataset(out);
  assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'no input twice');
  expectEmbeddings(rows);
});

/** A tab whose vectors are altered on the way: every value scaled by 1.01 (well-formed, plausible). */
const liar: SimulatedActorOptions = {
  mode: 'real',
  hostId: 'liar-host',
  onBatch: async (batch, actor) => {
    const r = await actor.answer(batch);
    for (const item of r.items) if (item.ok) item.row.embedding = (item.row.embedding as number[]).map((x) => x * 1.01);
    actor.send(r);
  },
};

test('a tab that alters its embeddings is caught by verification; no altered row is written', async () => {
  const out = path.join(tmp, 'liar.jsonl');
  const c = await startCoordinator(embedArgs(out, { pool: 3 }));
  const [lying] = (await startActors(c.workerUrl, 1, liar)).actors;
  await startActors(c.workerUrl, 2, { mode: 'real' });
  assert.equal(await c.exited, 0, c.stderr());
  assert.equal((await lying!.closed).code, CLOSE.barred);
  const rows = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expectEmbeddings(rows);
  assert.match(c.stderr(), /sent wrong results \(.*embedding is .* from the reference's \(L2\)/);
});

test("records: scores equal onnxruntime-node's, and a record the actor fails on gets an ACTOR_ERROR row naming it", async () => {
  const data = path.join(tmp, 'records.jsonl');
  const records = Array.from({ length: 30 }, (_, i) => ({
    id: `r${i}`,
    features: Array.from({ length: 8 }, (_, j) => Math.sin(i * 8 + j)),
    group: i % 2 ? 'a' : 'b',
  }));
  await fs.writeFile(
    data,
    [...records.map((r) => JSON.stringify(r)), JSON.stringify({ id: 'broken', features: [1, 2] })].join('\n') + '\n',
  );
  const out = path.join(tmp, 'scores.jsonl');
  const c = await startCoordinator(jobArgv({ actor: SCORE, model: 'scorer', data, out, batchSize: 8, pool: 2 }));
  await startActors(c.workerUrl, 2, { mode: 'real' });
  assert.equal(await c.exited, 3, c.stderr());
  const scores = await referenceScores((await ensureScorer(CACHE_DIR)).path, records);
  const rows = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as { id: string; score?: number; label?: string; group?: string; error: { code: string; message: string } | null },
    );
  assert.equal(rows.length, 31);
  for (const r of rows.filter((x) => x.id !== 'broken')) {
    assert.equal(r.error, null, r.id);
    assert.ok(Math.abs(r.score! - scores.get(r.id)!) < 1e-6, `${r.id}: ${r.score} vs ${scores.get(r.id)}`);
    assert.equal(r.label, r.score! >= 0.5 ? 'high' : 'low');
  }
  const broken = rows.find((r) => r.id === 'broken')!;
  assert.equal(broken.error?.code, 'ACTOR_ERROR');
  assert.match(broken.error!.message, /broken: the actor's call failed: record broken has no 8 numeric "features"/);
});

test('a records actor on a NATS queue: the gateway serves the module it took from the job, and every score is right', async () => {
  const nats = await startNats();
  const procs = new QueueProcesses(
    () => nats.url,
    () => tmp,
  );
  try {
    const data = path.join(tmp, 'queued-records.jsonl');
    const records = Array.from({ length: 24 }, (_, i) => ({ id: `q${i}`, features: Array.from({ length: 8 }, (_, j) => Math.cos(i + j)) }));
    await fs.writeFile(data, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const out = path.join(tmp, 'queued.jsonl');
    const run = await startCoordinator(
      jobArgv({ queue: nats.url, job: 'records', actor: SCORE, model: 'scorer', data, out, batchSize: 4, launch: 0 }),
    );
    const gateway = await procs.gateway('records');
    await startActors(gateway.workerUrl, 2, { mode: 'real' });
    assert.equal(await run.exited, 0, run.stderr());
    const scores = await referenceScores((await ensureScorer(CACHE_DIR)).path, records);
    const rows = (await fs.readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; score: number });
    assert.equal(rows.length, 24);
    for (const r of rows) assert.ok(Math.abs(r.score - scores.get(r.id)!) < 1e-6, r.id);
  } finally {
    await procs.killAll();
    await nats.stop();
  }
});
