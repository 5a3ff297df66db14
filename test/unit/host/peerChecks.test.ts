import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InputItem } from '../../../coordinator/io/inputItem.ts';
import { RIDE_WAIT_MS } from '../../../coordinator/host/peerChecks.ts';
import { startHost } from '../../support/hostHarness.ts';
import { okItems, TINY_PNG } from '../../support/jobHarness.ts';

const input = (id: string): InputItem => ({ id, source: `fake://${id}`, bytes: TINY_PNG });

test("a peer check rides in the next batch another host's actor gets: the batch is cut that much shorter, its answer split", async () => {
  const h = startHost(200, { batchSize: 4 });
  const a = await h.join('host-a');
  const b = await h.join('host-b');
  assert.deepEqual(
    [a.batches[0]!.ids, b.batches[0]!.ids],
    [
      ['in-0', 'in-1', 'in-2', 'in-3'],
      ['in-4', 'in-5', 'in-6', 'in-7'],
    ],
  );
  const check = h.host.peerCheck([input('in-0'), input('in-1')], 'host-a');
  await h.settle();
  assert.equal(b.batches.length, 1, 'no batch of its own: work is left, so the check waits to ride');
  h.answer(b, b.batches[0]!.batchId);
  await h.settle();
  assert.deepEqual(b.batches[1]!.ids, ['in-8', 'in-9', 'in-0', 'in-1'], 'two inputs of work, then the check');
  h.answer(b, b.batches[1]!.batchId, [...okItems(2, 3), ...okItems(2, 7)]);
  const answer = await check;
  assert.equal(answer?.hostId, 'host-b');
  assert.deepEqual(
    answer?.answers.map((r) => r.ok && r.row.class),
    [7, 7],
  );
  assert.deepEqual(
    h.rows.filter((r) => r.actor === 'actor-2').map((r) => r.id),
    ['in-4', 'in-5', 'in-6', 'in-7', 'in-8', 'in-9'],
    "the check's inputs are no rows of the job",
  );
});

test('a batch a check rides in that fails answers the check null and goes back without it', async () => {
  const h = startHost(200, { batchSize: 4 });
  await h.join('host-a');
  const b = await h.join('host-b');
  const check = h.host.peerCheck([input('in-0')], 'host-a');
  h.answer(b, b.batches[0]!.batchId);
  await h.settle();
  const carrying = b.batches[1]!;
  assert.deepEqual(carrying.ids, ['in-8', 'in-9', 'in-10', 'in-0']);
  h.failBatch(b, carrying.batchId, 'INFERENCE_FAILED');
  assert.equal(await check, null);
  await h.settle();
  assert.deepEqual(b.batches[2]!.ids, ['in-8', 'in-9', 'in-10'], 'retried as the work it was');
});

test('with no work left to ride in, or after waiting RIDE_WAIT_MS, a check goes alone to a free actor of another host', async () => {
  const h = startHost(2, { batchSize: 4, inFlight: 2, poolMin: 2 });
  await h.join('host-a');
  const b = await h.join('host-b');
  assert.equal(b.batches.length, 1, 'both inputs out: nothing left to ride in');
  const check = h.host.peerCheck([input('in-0')], 'host-a');
  await h.settle();
  assert.deepEqual(b.batches[1]!.ids, ['in-0']);
  h.answer(b, b.batches[1]!.batchId);
  assert.equal((await check)?.answers.length, 1);

  const busy = startHost(200, { batchSize: 4 });
  await busy.join('host-a');
  const c = await busy.join('host-c');
  const late = busy.host.peerCheck([input('in-0')], 'host-a');
  busy.clock.advance(RIDE_WAIT_MS + 1);
  busy.answer(c, c.batches[0]!.batchId);
  await busy.settle();
  assert.deepEqual(c.batches[1]!.ids, ['in-0'], 'waited its time: it goes first, alone, before more work');
  busy.answer(c, c.batches[1]!.batchId);
  assert.ok(await late);
});
