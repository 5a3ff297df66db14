/**
 * Verification in the job, in-process: fake tabs answer, a fake reference stands for the
 * coordinator's model (class 1 is each input's clear top class), and the test checks what reaches
 * the output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { compareWithReference } from '../../../coordinator/verify/agreement.ts';
import { HELD_LIMIT, PROBATION } from '../../../coordinator/verify/verifier.ts';
import { mulberry32 } from '../../support/testImages.ts';
import { caps, okItems, startJob, type FakeLink, type Harness } from '../../support/jobHarness.ts';

/** The reference: class 1 at 0.9, class 2 at 0.05, the rest shared. */
function referenceProbs(n: number): Float32Array[] {
  return Array.from({ length: n }, () => {
    const p = new Float32Array(10).fill(0.05 / 8);
    p[1] = 0.9;
    p[2] = 0.05;
    return p;
  });
}
const reference = async (bytes: Uint8Array[]) => referenceProbs(bytes.length);

function verifiedJob(items: number, rate: number, random = mulberry32(5)): Harness {
  return startJob(items, { batchSize: 4, maxTasksInFlight: 1, verifyRate: rate }, { verify: { rate, reference, random } });
}

/** Answers every batch the links hold until `until()` (default: the job's end); `lie()` decides, per batch, whether it shifts the class. */
async function answerAll(h: Harness, links: { link: FakeLink; lie: () => boolean }[], until = () => h.job.isFinished): Promise<void> {
  for (let round = 0; round < 2000 && !until(); round++) {
    await h.settle();
    for (const { link, lie } of links) {
      if (link.closed) continue;
      for (const b of link.batches.filter((x) => !link.answered.has(x.batchId))) {
        link.answered.add(b.batchId);
        const items: ItemResult[] = okItems(b.items, lie() ? 2 : 1);
        h.job.onMessage(link, { type: 'result', batchId: b.batchId, items, timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } });
      }
    }
  }
  if (h.job.isFinished) await h.job.done;
}

test('agreement: the same classes and scores agree; a shifted class or a made-up score does not', () => {
  const ref = referenceProbs(2);
  assert.equal(compareWithReference(['a', 'b'], okItems(2, 1), ref).agree, true);
  const shifted = compareWithReference(['a', 'b'], okItems(2, 2), ref);
  assert.equal(shifted.agree, false);
  assert.match(shifted.detail!, /a: the tab scores class 2 9\.000e-1, the reference 5\.000e-2/);
  const madeUp: ItemResult[] = [{ ok: true, topk: [{ class: 1, score: 0.5 }] }, ...okItems(1, 1)];
  assert.match(compareWithReference(['a', 'b'], madeUp, ref).detail!, /scores class 1 5\.000e-1, the reference 9\.000e-1/);
  // A model whose probabilities are all small: a shifted class is still caught.
  const flat = new Float32Array(1000).map((_, i) => (1 + (i % 7) / 100) / 1000);
  const honestFlat: ItemResult[] = [{ ok: true, topk: [6, 13, 20].map((c) => ({ class: c, score: flat[c]! })) }];
  assert.equal(compareWithReference(['f'], honestFlat, [flat]).agree, true);
  const shiftedFlat: ItemResult[] = [{ ok: true, topk: [7, 14, 21].map((c) => ({ class: c, score: flat[c - 1]! })) }];
  assert.equal(compareWithReference(['f'], shiftedFlat, [flat]).agree, false);
  assert.equal(compareWithReference(['a'], okItems(1, 2), [null]).agree, true, 'an input the reference cannot decode is not compared');
  assert.equal(compareWithReference(['a'], [{ ok: false, code: 'CORRUPT_IMAGE', message: 'x' }], ref.slice(0, 1)).agree, false);
});

test('a tab that lies on every batch gets nothing into the output: caught on probation, barred, its inputs recomputed', async () => {
  const h = verifiedJob(40, 0.05);
  await h.job.allReadIn;
  const liar = h.join('liar-host');
  const honest = h.join('honest-host');
  const both = [{ link: liar, lie: () => true }, { link: honest, lie: () => false }];
  await answerAll(h, both, () => liar.closed !== null);
  assert.equal(liar.closed?.code, CLOSE.barred);
  const back = h.join('liar-host', caps(), false);
  const welcome = back.json[0];
  assert.equal(welcome?.type === 'welcome' && welcome.status, 'rejected', 'its host cannot rejoin');
  assert.match(welcome?.type === 'welcome' ? welcome.reason! : '', /host liar-host is barred from this job/);
  await answerAll(h, both);
  assert.equal(h.sink.rows.length, 40);
  assert.equal(new Set(h.sink.rows.map((r) => r.id)).size, 40);
  assert.deepEqual(h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id), [], 'no lie was written');
  assert.match(h.logs.join('\n'), /actor-1 sent wrong results \(img-\d+: the tab scores class 2 9\.000e-1, the reference 5\.000e-2\); host liar-host is barred from this job/);
});

test('no row is written before a check of its actor passes; probation checks the first batches', async () => {
  const h = verifiedJob(16, 0);
  await h.job.allReadIn;
  const tab = h.join();
  await answerAll(h, [{ link: tab, lie: () => false }]);
  assert.equal(h.sink.rows.length, 16);
  const v = h.job.output.verifier!;
  assert.ok(v.stats.batchesChecked >= PROBATION, `${v.stats.batchesChecked} checks`);
  assert.equal(v.heldRows, 0, 'the job ends only once every held row passed');
});

test(`a tab that lies on a tenth of its batches gets few wrong rows in: on average at most ${HELD_LIMIT}, here under twice that`, async () => {
  const random = mulberry32(11);
  const h = startJob(4000, { batchSize: 8, maxTasksInFlight: 1, pool: { min: 3, max: 3 } }, { verify: { rate: 0.05, reference, random } });
  await h.settle();
  const liar = h.join('liar');
  const others = [h.join('a'), h.join('b')];
  const lies = mulberry32(3);
  await answerAll(h, [{ link: liar, lie: () => lies() < 0.1 }, ...others.map((link) => ({ link, lie: () => false }))]);
  const wrong = h.sink.rows.filter((r) => !r.error && r.class !== 1).length;
  assert.equal(h.sink.rows.length, 4000);
  assert.equal(liar.closed?.code, CLOSE.barred, 'caught');
  assert.ok(wrong < 2 * HELD_LIMIT, `${wrong} wrong rows`);
  process.stdout.write(`# a 10% liar got ${wrong} wrong rows in before it was caught\n`);
});
