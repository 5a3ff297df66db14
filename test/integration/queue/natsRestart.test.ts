/**
 * The NATS server itself SIGKILLed mid-job and started again on the same store (a real
 * nats-server, the same port): `run --queue` and its tabs ride it out, the job finishes with exit
 * 0, and every input has exactly one row, each the top-1 of onnxruntime-node.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { queueSuite, rowsIn, until } from '../../support/queueJob.ts';
import { startActors } from '../../support/simulatedActor.ts';

const q = queueSuite('nats-kill', 64, 41);

test('nats-server SIGKILLed mid-job and restarted on the same store: the queue job ends exit 0, every input exactly once', async () => {
  const out = path.join(q.tmp, 'out.jsonl');
  const run = await q.procs.run('natskill', out);
  // Slow tabs, so that the kill lands mid-job.
  await startActors(run.workerUrl, 2, { mode: 'real', imagesPerSecond: 16 });
  await until('rows before the kill', async () => (await rowsIn(out)) >= 12);
  await q.nats.kill('SIGKILL');
  const written = await rowsIn(out);
  await q.nats.restart();
  assert.equal(await run.exited, 0, run.stderr());
  assert.ok(written < q.files.length, `the kill came mid-job (${written} rows of ${q.files.length})`);
  await assertCompleteAndCorrect(out, q.files, q.reference);
});
