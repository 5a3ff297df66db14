/** URL inputs in the job: sent as URLs, and fetched by the coordinator instead when a tab cannot. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { okItems, startJob, TINY_PNG, type FakeLink, type Harness } from '../../support/jobHarness.ts';

/** Answers a batch: items at `refused` indices as TAB_FETCH_FAILED, the rest predicted. */
function answerRefusing(h: Harness, link: FakeLink, batchId: number, refused: (i: number) => boolean): void {
  const b = link.batches.find((x) => x.batchId === batchId)!;
  link.answered.add(batchId);
  const items: ItemResult[] = okItems(b.items).map((r, i) =>
    refused(i) ? { ok: false, code: 'TAB_FETCH_FAILED', message: 'TypeError: Failed to fetch (CORS)' } : r,
  );
  h.job.onMessage(link, { type: 'result', batchId, items, timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } });
}

test('URL inputs go to tabs as URLs; one a tab cannot fetch is fetched by the coordinator and sent again with its bytes', async () => {
  const read: string[] = [];
  const h = startJob(
    8,
    { batchSize: 4, maxTasksInFlight: 1 },
    { urls: true, read: async (source) => (read.push(source), { bytes: TINY_PNG }) },
  );
  await h.job.allReadIn;
  assert.deepEqual(read, [], 'the coordinator reads no URL input up front');
  const tab = h.join();
  await h.settle();
  answerRefusing(h, tab, tab.batches[0]!.batchId, (i) => i === 1);
  await h.settle();
  assert.deepEqual(read, ['https://images.test/1.png']);
  assert.equal(h.job.host.stats.wire.itemBytes, 0, 'no image bytes went to the tab before the fallback');
  for (let guard = 0; guard < 10 && !h.job.isFinished; guard++) {
    for (const b of tab.batches.filter((x) => !tab.answered.has(x.batchId))) h.answer(tab, b.batchId);
    await h.settle();
  }
  await h.job.ended;
  const ids = h.sink.rows.map((r) => r.id).sort();
  assert.deepEqual(
    ids,
    Array.from({ length: 8 }, (_, i) => `img-${String(i).padStart(4, '0')}`),
  );
  assert.equal(h.sink.rows.filter((r) => r.error).length, 0);
  assert.equal(h.job.host.stats.fetchedHere, 1);
});

test('an input neither the tab nor the coordinator can fetch gets one error row naming both failures', async () => {
  const h = startJob(
    4,
    { batchSize: 4, maxTasksInFlight: 1, pool: { min: 1, max: 1 } },
    { urls: true, read: async (source) => ({ error: { code: 'UNREADABLE_FILE', message: `${source}: HTTP 404` } }) },
  );
  await h.job.allReadIn;
  const tab = h.join();
  await h.settle();
  answerRefusing(h, tab, tab.batches[0]!.batchId, (i) => i === 0);
  for (let guard = 0; guard < 10 && !h.job.isFinished; guard++) {
    await h.settle();
    for (const b of tab.batches.filter((x) => !tab.answered.has(x.batchId))) h.answer(tab, b.batchId);
  }
  await h.job.ended;
  const bad = h.sink.rows.filter((r) => r.error);
  assert.equal(h.sink.rows.length, 4);
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.error!.code, 'UNREADABLE_FILE');
  assert.match(
    bad[0]!.error!.message,
    new RegExp(
      String.raw`^img-0000: neither a tab nor the coordinator could fetch https://images\.test/0\.png: ` +
        String.raw`the tab said .*CORS.*; the coordinator got .*HTTP 404`,
    ),
  );
});

test('a tab claiming it could not fetch an input that was sent inline is refused as a bad result', async () => {
  const h = startJob(4, { batchSize: 4, maxTasksInFlight: 1, pool: { min: 1, max: 1 } });
  await h.job.allReadIn;
  const liar = h.join();
  await h.settle();
  answerRefusing(h, liar, liar.batches[0]!.batchId, (i) => i === 0);
  assert.equal(liar.closed?.code, CLOSE.badResult);
  assert.match(liar.closed!.reason, /TAB_FETCH_FAILED for an input sent inline/);
});
