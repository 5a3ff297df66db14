/**
 * A gateway dying is the failure the queue exists for, and verification must not turn it into a
 * stall: `run --queue` with the default --verify, gateway A SIGKILLed mid-job, gateway B with fresh
 * tabs finishing the job, every input exactly once and as onnxruntime-node predicts. Once with A's
 * actors past their probation when it dies, once with them still on it (rows held, unchecked).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { queueSuite, rowsIn, until } from '../../support/queueJob.ts';
import { startActors } from '../../support/simulatedActor.ts';

const IMAGES = 96;

const q = queueSuite('failover', IMAGES, 41);

async function failover(job: string, batchesBeforeKill: number, rowsBeforeKill: number): Promise<void> {
  const out = path.join(q.tmp, `${job}.jsonl`);
  // The default --verify (0.05): every new actor's first batches are checked, its rows held until they pass.
  // A pool of 2 and batches of 2: the window of units in flight (16) is a third of the job (48 units).
  const run = await q.procs.run(job, out, { verify: 0.05, ackWait: '2s', stallTimeout: '20s', pool: '1..2', batchSize: 2 });
  const a = await q.procs.gateway(job);
  await startActors(a.workerUrl, 2, actorsHoldingAfter(batchesBeforeKill).options);
  await until(`${rowsBeforeKill} rows from gateway A`, async () => (await rowsIn(out)) >= rowsBeforeKill, 60_000);
  a.kill('SIGKILL');
  assert.equal(await a.exited, 128);
  const b = await q.procs.gateway(job);
  await startActors(b.workerUrl, 2, { mode: 'real' });
  assert.equal(await run.exited, 0, run.stderr().slice(-3000));
  await assertCompleteAndCorrect(out, q.files, q.reference);
  assert.equal(await b.exited, 0, 'gateway B exits once the job is done');
}

test('a gateway SIGKILLed mid-job with default verification: a second gateway finishes, every input exactly once', async () => {
  // Past probation (3 checked batches each: 12 rows written) before it dies.
  await failover('past-probation', 6, 12);
});

test('a gateway SIGKILLed while its tabs are on probation: their held rows are done again, every input exactly once', async () => {
  // One batch each: their rows are still held for checks when A dies.
  await failover('on-probation', 1, 0);
});
