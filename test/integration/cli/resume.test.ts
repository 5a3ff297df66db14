/**
 * Crash and interrupt recovery with a real coordinator: a job killed with SIGKILL half-way, or
 * drained by Ctrl-C, and then run again with --resume, ends with every input exactly once and
 * each prediction equal to onnxruntime-node's. A torn last line (a crash mid-write) is dropped and
 * its input predicted again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, startCoordinator, waitForLog, type RunningCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect, assertNoDuplicates, readWholeRows } from '../../support/outputCheck.ts';
import { referencePredictions, type ReferencePrediction } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 200;
const BATCH_SIZE = 4;

let tmp: string;
let data: string;
let files: { id: string; path: string }[];
let reference: Map<string, ReferencePrediction>;
const running = new Set<RunningCoordinator>();

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-resume-'));
  data = path.join(tmp, 'data');
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  files = await writeTestPngs(data, IMAGES, 64, 64, 17);
  reference = await referencePredictions(model.path, files);
});

after(async () => {
  for (const c of running) c.kill('SIGKILL');
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * Every batch is verified (--verify 1), so its rows are written as soon as its check passes and a
 * kill lands at a known row count: resuming works with verification on, held rows simply recomputed.
 */
async function coordinatorFor(out: string, flags: JobFlags = {}): Promise<RunningCoordinator> {
  const c = await startCoordinator(
    jobArgv({ model: 'resnet18-tiny', launch: 0, data, out, batchSize: BATCH_SIZE, pool: 2, verify: 1, ...flags }),
  );
  running.add(c);
  void c.exited.then(() => running.delete(c));
  return c;
}

/** Polls the output until it has `rows` complete lines (bounded: the actors answer within seconds). */
async function waitForRows(out: string, rows: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await fs.readFile(out, 'utf8').catch(() => '');
    const lines = text.split('\n').length - 1;
    if (lines >= rows) return lines;
    if (Date.now() > deadline) throw new Error(`${out} has ${lines} rows after ${timeoutMs} ms, expected ${rows}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the job to the end with --resume and fresh actors; returns the rows it skipped. */
async function resumeToCompletion(out: string): Promise<{ skipped: number; stderr: string }> {
  const c = await coordinatorFor(out, { resume: true });
  const actors = await startActors(c.workerUrl, 2, { mode: 'real' });
  const code = await c.exited;
  assert.equal(code, 0, c.stderr().slice(-4000));
  await actors.closed;
  assert.deepEqual(
    actors.actors.flatMap((a) => a.problems),
    [],
  );
  const summary = /done: (\d+) rows \(\d+ predictions, 0 errors, (\d+) already done before --resume\)/.exec(c.stdout());
  assert.ok(summary, c.stdout());
  assert.equal(Number(summary[1]) + Number(summary[2]), IMAGES, 'rows written now and before add up to the dataset');
  await assertCompleteAndCorrect(out, files, reference);
  return { skipped: Number(summary[2]), stderr: c.stderr() };
}

/** Starts a job, lets it write half its rows, and kills it with SIGKILL; returns the rows written. */
async function killHalfway(out: string): Promise<number> {
  const c = await coordinatorFor(out);
  const hold = actorsHoldingAfter(IMAGES / BATCH_SIZE / 2);
  const actors = await startActors(c.workerUrl, 2, hold.options);
  await waitForRows(out, IMAGES / 2);
  c.kill('SIGKILL');
  await c.exited;
  assert.equal(c.process.signalCode, 'SIGKILL');
  await actors.closed;
  const rows = await readWholeRows(out);
  assert.ok(rows.length >= IMAGES / 2 && rows.length < IMAGES, `killed mid-run: ${rows.length} rows`);
  assertNoDuplicates(rows);
  return rows.length;
}

test('a job killed with SIGKILL half-way finishes with --resume: every id once, as the reference predicts', async () => {
  const out = path.join(tmp, 'killed.jsonl');
  const before = await killHalfway(out);
  const { skipped } = await resumeToCompletion(out);
  assert.equal(skipped, before);
});

test('a torn last line left by a crash is dropped on --resume and its input predicted again', async () => {
  const out = path.join(tmp, 'torn.jsonl');
  const before = await killHalfway(out);
  const done = new Set((await readWholeRows(out)).map((r) => r.id));
  const tornId = files.find((f) => !done.has(f.id))!.id;
  await fs.appendFile(out, `{"id":${JSON.stringify(tornId)},"class":1,"label":"gold`);
  const { skipped, stderr } = await resumeToCompletion(out);
  assert.match(stderr, /resume: dropped a torn last record/);
  assert.equal(skipped, before);
  const rows = (await readWholeRows(out)).filter((r) => r.id === tornId);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.class, reference.get(tornId)!.top1);
});

/** Starts a job whose actors hold every batch past the tenth, and sends it Ctrl-C once ten are written. */
async function interruptAfterTenBatches(out: string) {
  const c = await coordinatorFor(out);
  const hold = actorsHoldingAfter(10);
  const actors = await startActors(c.workerUrl, 2, hold.options);
  await waitForRows(out, 10 * BATCH_SIZE);
  c.kill('SIGINT');
  await waitForLog(c, /interrupt: draining/);
  return { c, hold, actors };
}

test('Ctrl-C drains to exit 130 with whole rows only, and --resume completes the job', async () => {
  const out = path.join(tmp, 'interrupted.jsonl');
  const { c, hold, actors } = await interruptAfterTenBatches(out);
  hold.release();
  assert.equal(await c.exited, 130, c.stderr().slice(-4000));
  await actors.closed;
  assert.match(c.stdout(), /interrupted: \d+ rows \(\d+ predictions, 0 errors\)/);
  const rows = await readWholeRows(out);
  assert.ok(rows.length >= 10 * BATCH_SIZE && rows.length < IMAGES, `interrupted mid-run: ${rows.length} rows`);
  assertNoDuplicates(rows);
  for (const r of rows) {
    assert.equal(r.error, null, `${r.id} has an error row`);
    assert.equal(r.class, reference.get(r.id)!.top1, `${r.id}: top-1 differs from onnxruntime-node`);
  }
  const { skipped } = await resumeToCompletion(out);
  assert.equal(skipped, rows.length);
});

test('Ctrl-C hands out no new batches: only those already on actors finish', async () => {
  const { c, hold, actors } = await interruptAfterTenBatches(path.join(tmp, 'no-new-batches.jsonl'));
  // The actors hold every batch past the tenth, so nothing was dispatched since the rows landed.
  const given = actors.actors.reduce((n, a) => n + a.batchIds.length, 0);
  hold.release();
  assert.equal(await c.exited, 130);
  await actors.closed;
  assert.equal(
    actors.actors.reduce((n, a) => n + a.batchIds.length, 0),
    given,
    'batches dispatched after Ctrl-C',
  );
});

test('a second Ctrl-C stops at once with exit 130, leaving whole rows that --resume completes', async () => {
  const out = path.join(tmp, 'stopped.jsonl');
  const { c, hold, actors } = await interruptAfterTenBatches(out);
  // The actors still hold their batches: only a second Ctrl-C can end this job now.
  c.kill('SIGINT');
  assert.equal(await c.exited, 130, c.stderr().slice(-4000));
  assert.match(c.stderr(), /second interrupt: stopping now/);
  hold.release();
  await actors.closed;
  const rows = await readWholeRows(out);
  assertNoDuplicates(rows);
  const { skipped } = await resumeToCompletion(out);
  assert.equal(skipped, rows.length);
});
