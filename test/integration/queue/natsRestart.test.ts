/**
 * The NATS server itself SIGKILLed mid-job and started again on the same store (a real
 * nats-server, the same port): `run --queue` and its tabs ride it out, the job finishes with exit
 * 0, and every input has exactly one row, each the top-1 of onnxruntime-node.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { QueueProcesses, rowsIn, until } from '../../support/queueJob.ts';
import { referencePredictions, type ReferencePrediction } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

let nats: NatsServer;
let tmp: string;
let data: string;
let files: { id: string; path: string }[];
let reference: Map<string, ReferencePrediction>;
const procs = new QueueProcesses(
  () => nats.url,
  () => data,
);

before(async () => {
  nats = await startNats();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-nats-kill-'));
  data = path.join(tmp, 'data');
  files = await writeTestPngs(data, 64, 64, 64, 41);
  reference = await referencePredictions((await ensureBuiltinModel(CACHE_DIR, 'tiny')).path, files);
});

after(async () => {
  await procs.killAll();
  await nats.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

test('nats-server SIGKILLed mid-job and restarted on the same store: the queue job ends exit 0, every input exactly once', async () => {
  const out = path.join(tmp, 'out.jsonl');
  const run = await procs.run('natskill', out);
  // Slow tabs, so that the kill lands mid-job.
  await startActors(run.workerUrl, 2, { mode: 'real', imagesPerSecond: 16 });
  await until('rows before the kill', async () => (await rowsIn(out)) >= 12);
  await nats.kill('SIGKILL');
  const written = await rowsIn(out);
  await nats.restart();
  assert.equal(await run.exited, 0, run.stderr());
  assert.ok(written < files.length, `the kill came mid-job (${written} rows of ${files.length})`);
  await assertCompleteAndCorrect(out, files, reference);
});
