/**
 * Verification in the job, in-process: fake tabs answer, a fake reference stands for the
 * coordinator's model (class 1 is each input's clear top class), and the test checks what reaches
 * the output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { HELD_LIMIT, PROBATION } from '../../../coordinator/verify/verifier.ts';
import { mulberry32 } from '../../support/testImages.ts';
import { PNG } from 'pngjs';
import { caps, okItems, startJob, TINY_PNG, type FakeLink, type Harness } from '../../support/jobHarness.ts';

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
  if (h.job.isFinished) await h.job.ended;
}

test('a tab that lies on every batch gets nothing into the output: caught on probation, barred, its inputs recomputed', async () => {
  const h = verifiedJob(40, 0.05);
  await h.job.allReadIn;
  const liar = h.join('liar-host');
  const honest = h.join('honest-host');
  const both = [
    { link: liar, lie: () => true },
    { link: honest, lie: () => false },
  ];
  await answerAll(h, both, () => liar.closed !== null);
  assert.equal(liar.closed?.code, CLOSE.barred);
  await answerAll(h, both);
  assert.equal(h.sink.rows.length, 40);
  assert.equal(new Set(h.sink.rows.map((r) => r.id)).size, 40);
  assert.deepEqual(
    h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id),
    [],
    'no lie was written',
  );
  assert.match(
    h.logs.join('\n'),
    /actor-1 sent wrong results \(img-\d+: the tab scores class 2 9\.000e-1, the reference 5\.000e-2\); it is barred from this job/,
  );
  assert.deepEqual(
    h.job.output.barred.map((b) => b.actor),
    ['actor-1'],
  );
  assert.deepEqual(h.job.pool.barred(), [], 'one liar bars the actor, not its host');
});

test('one liar among four tabs of one host: only the liar is barred; the other three go back on probation and finish the job', async () => {
  const h = verifiedJob(96, 0.05);
  await h.settle();
  const liar = h.join('lab-machine');
  const honest = [h.join('lab-machine'), h.join('lab-machine'), h.join('lab-machine')];
  await answerAll(h, [{ link: liar, lie: () => true }, ...honest.map((link) => ({ link, lie: () => false }))]);
  assert.equal(liar.closed?.code, CLOSE.barred);
  for (const l of honest) assert.notEqual(l.closed?.code, CLOSE.barred, 'an honest tab of the same host was barred');
  assert.equal(h.sink.rows.length, 96);
  assert.deepEqual(
    h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id),
    [],
    'no lie was written',
  );
  assert.match(h.logs.join('\n'), /host lab-machine's other actors are back on probation/);
  assert.deepEqual(h.job.pool.barred(), []);
});

test('a second liar on the same host bars the host: its tabs are refused from then on', async () => {
  const h = verifiedJob(64, 0.05);
  await h.settle();
  const first = h.join('lab-machine');
  const honest = h.join('elsewhere');
  await answerAll(
    h,
    [
      { link: first, lie: () => true },
      { link: honest, lie: () => false },
    ],
    () => first.closed !== null,
  );
  // The liar comes back as a new actor of the same host (its page rejoined, or a new tab): on probation.
  const second = h.join('lab-machine');
  await answerAll(
    h,
    [
      { link: second, lie: () => true },
      { link: honest, lie: () => false },
    ],
    () => second.closed !== null,
  );
  assert.equal(second.closed?.code, CLOSE.barred);
  assert.deepEqual(
    h.job.pool.barred().map((b) => b.host),
    ['lab-machine'],
  );
  const again = h.join('lab-machine', caps(), false);
  const welcome = again.json[0];
  assert.equal(welcome?.type === 'welcome' && welcome.status, 'rejected', 'its host cannot rejoin');
  assert.match(welcome?.type === 'welcome' ? welcome.reason! : '', /host lab-machine is barred from this job/);
  await answerAll(h, [{ link: honest, lie: () => false }]);
  assert.equal(h.sink.rows.length, 64);
  assert.deepEqual(
    h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id),
    [],
  );
});

test('when every actor was barred the job waits for new ones, and NO_ACTORS then says who was barred and why', async () => {
  const h = startJob(
    16,
    { batchSize: 4, maxTasksInFlight: 1, verifyRate: 0.05, joinTimeoutMs: 30_000 },
    { verify: { rate: 0.05, reference, random: mulberry32(5) } },
  );
  await h.job.allReadIn;
  const liar = h.join('only-host');
  await answerAll(h, [{ link: liar, lie: () => true }], () => liar.closed !== null);
  assert.equal(h.job.isFinished, false, 'still waiting for actors');
  h.clock.advance(30_001);
  await assert.rejects(h.job.ended, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NO_ACTORS');
    assert.match(err.message, /barred for wrong results/);
    assert.match(err.message, /actor-1 sent wrong results/);
    assert.doesNotMatch(err.message, /No tab joined/);
    return true;
  });
});

/** Two kinds of input the fake reference tells apart by size: one it decodes, one it cannot (a format it lacks). */
const OTHER_PNG = new Uint8Array(PNG.sync.write(Object.assign(new PNG({ width: 16, height: 16 }), { data: Buffer.alloc(16 * 16 * 4, 7) })));
const picky = async (bytes: Uint8Array[]) =>
  bytes.map((b, i) => (b.byteLength === OTHER_PNG.byteLength ? null : referenceProbs(bytes.length)[i]!));

test(
  'a check that compared nothing passes nothing: a tab lying only on inputs the coordinator cannot decode ' +
    'gets its rows marked unverified, never passed',
  async () => {
    // Every input is of the kind the reference cannot decode.
    const h = startJob(
      24,
      { batchSize: 4, maxTasksInFlight: 1, verifyRate: 1 },
      { read: async () => ({ bytes: OTHER_PNG }), verify: { rate: 1, reference: picky, random: mulberry32(5) } },
    );
    await h.job.allReadIn;
    const tab = h.join('h');
    await answerAll(h, [{ link: tab, lie: () => true }]);
    const stats = h.job.output.verifyCounts!;
    assert.equal(stats.batchesChecked, 0, 'no check counted as compared');
    assert.equal(stats.inputsChecked, 0);
    assert.ok(stats.inconclusive > 0);
    assert.equal(stats.unverifiedRows, 24, 'every row it wrote is marked unverified');
    assert.match(h.logs.join('\n'), /24 row\(s\) written unverified|row\(s\) written unverified/);
  },
);

test('inputs the reference cannot decode are replaced in a check by others it can: a liar on both kinds is caught on them', async () => {
  let n = 0;
  const h = startJob(
    64,
    { batchSize: 8, maxTasksInFlight: 1, verifyRate: 0.05 },
    { read: async () => ({ bytes: n++ % 2 ? OTHER_PNG : TINY_PNG }), verify: { rate: 0.05, reference: picky, random: mulberry32(9) } },
  );
  await h.settle();
  const liar = h.join('liar');
  const honest = h.join('honest');
  await answerAll(h, [
    { link: liar, lie: () => true },
    { link: honest, lie: () => false },
  ]);
  assert.equal(liar.closed?.code, CLOSE.barred);
  assert.equal(h.sink.rows.length, 64);
  assert.deepEqual(
    h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id),
    [],
  );
  assert.ok(h.job.output.verifyCounts!.uncheckable > 0, 'the check drew some it could not decode');
});

test('no row is written before a check of its actor passes; probation checks the first batches', async () => {
  const h = verifiedJob(16, 0);
  await h.job.allReadIn;
  const tab = h.join();
  await answerAll(h, [{ link: tab, lie: () => false }]);
  assert.equal(h.sink.rows.length, 16);
  const stats = h.job.output.verifyCounts!;
  assert.ok(stats.batchesChecked >= PROBATION, `${stats.batchesChecked} checks`);
  assert.equal(h.job.output.heldRows, 0, 'the job ends only once every held row passed');
});

test(
  `a tab that lies on a tenth of its batches gets few wrong rows in: on average at most ${HELD_LIMIT}, ` + `here under twice that`,
  async () => {
    const random = mulberry32(11);
    const h = startJob(
      4000,
      { batchSize: 8, maxTasksInFlight: 1, pool: { min: 3, max: 3 } },
      { verify: { rate: 0.05, reference, random } },
    );
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
  },
);
