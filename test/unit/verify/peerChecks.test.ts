/**
 * Peer checks, in-process: fake tabs on several hosts answer, a fake reference stands for the
 * coordinator's model (class 1 is each input's clear top class) and counts what it computes. A
 * check goes to an actor of another host; the reference only decides when two tabs differ, and
 * checks alone where no other host has an actor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { RATE_FLOOR, TRUSTED_STEP, Verifier } from '../../../coordinator/verify/verifier.ts';
import { mulberry32 } from '../../support/testImages.ts';
import { okItems, startJob, type FakeLink, type Harness } from '../../support/jobHarness.ts';

function probs(n: number): Float32Array[] {
  return Array.from({ length: n }, () => {
    const p = new Float32Array(10).fill(0.05 / 8);
    p[1] = 0.9;
    p[2] = 0.05;
    return p;
  });
}

function peerJob(items: number, rate = 0.05): { h: Harness; referenceInputs: () => number } {
  let computed = 0;
  const reference = async (bytes: Uint8Array[]) => {
    computed += bytes.length;
    return probs(bytes.length);
  };
  const h = startJob(
    items,
    { batchSize: 4, maxTasksInFlight: 2, verifyRate: rate },
    { verify: { rate, reference, random: mulberry32(7), peers: true } },
  );
  return { h, referenceInputs: () => computed };
}

/** How a fake tab answers a batch: honestly (class 1), or with class 2 when `lie` says so for this batch. */
type Lie = (batch: { ids: string[] }, link: FakeLink) => boolean;

async function answerAll(h: Harness, links: { link: FakeLink; lie: Lie }[], until = () => h.job.isFinished): Promise<void> {
  for (let round = 0; round < 4000 && !until(); round++) {
    await h.settle();
    for (const { link, lie } of links) {
      if (link.closed) continue;
      for (const b of link.batches.filter((x) => !link.answered.has(x.batchId))) {
        link.answered.add(b.batchId);
        const items: ItemResult[] = okItems(b.items, lie(b, link) ? 2 : 1);
        h.job.onMessage(link, { type: 'result', batchId: b.batchId, items, timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } });
      }
    }
  }
  if (h.job.isFinished) await h.job.ended;
}

const honest: Lie = () => false;

function wrongRows(h: Harness): string[] {
  return h.sink.rows.filter((r) => !r.error && r.class !== 1).map((r) => r.id);
}

test('honest tabs on three hosts: every check is a peer check, and the reference computes nothing', async () => {
  const { h, referenceInputs } = peerJob(120);
  await h.settle();
  const links = ['a', 'b', 'c'].map((host) => h.join(host));
  await answerAll(
    h,
    links.map((link) => ({ link, lie: honest })),
  );
  assert.equal(h.sink.rows.length, 120);
  const v = h.job.output.verifyCounts!;
  assert.ok(v.peerChecks >= 9, `every actor's probation checked by peers (${v.peerChecks} peer checks)`);
  assert.equal(v.peerChecks, v.batchesChecked);
  assert.equal(referenceInputs(), 0);
  assert.equal(v.referenceInputs, 0);
});

test('a liar among honest tabs on three hosts is caught by a peer check; the reference ran only to decide between the two', async () => {
  const { h, referenceInputs } = peerJob(120);
  await h.settle();
  const liar = h.join('liar-host');
  const others = [h.join('b'), h.join('c')];
  await answerAll(h, [{ link: liar, lie: () => true }, ...others.map((link) => ({ link, lie: honest }))]);
  assert.equal(liar.closed?.code, CLOSE.barred);
  assert.equal(h.sink.rows.length, 120);
  assert.deepEqual(wrongRows(h), [], 'no lie was written');
  const v = h.job.output.verifyCounts!;
  assert.ok(v.arbitrations >= 1);
  assert.ok(referenceInputs() > 0);
  assert.equal(v.referenceInputs, v.arbitrationInputs, 'the reference computed only to decide between two tabs');
  assert.equal(referenceInputs(), v.arbitrationInputs);
  assert.match(h.logs.join('\n'), /actor-1 sent wrong results \(img-\d+: the tab scores class 2/);
});

test('a peer that lies about the batches it checks is the one barred; the actor it checked is not', async () => {
  const { h } = peerJob(160);
  await h.settle();
  const seen = new Map<string, FakeLink>();
  // Honest on its own work; lies on a batch whose inputs another tab was sent first (a check).
  const liesOnChecks: Lie = (b, link) => b.ids.some((id) => seen.get(id) !== link);
  const record = (link: FakeLink) => {
    for (const b of link.batches) for (const id of b.ids) if (!seen.has(id)) seen.set(id, link);
  };
  const sly = h.join('sly-host');
  const others = [h.join('b'), h.join('c')];
  const all = [sly, ...others];
  const recorded =
    (lie: Lie): Lie =>
    (b, link) => (all.forEach(record), lie(b, link));
  await answerAll(h, [{ link: sly, lie: recorded(liesOnChecks) }, ...others.map((link) => ({ link, lie: recorded(honest) }))]);
  assert.equal(sly.closed?.code, CLOSE.barred);
  for (const o of others) assert.notEqual(o.closed?.code, CLOSE.barred);
  assert.equal(h.sink.rows.length, 160);
  assert.deepEqual(wrongRows(h), []);
  assert.equal(h.job.output.barred.length, 1);
  assert.equal(h.job.output.barred[0]!.host, 'sly-host');
});

test('one host: no peer can check, so the reference checks as before', async () => {
  const { h, referenceInputs } = peerJob(40);
  await h.settle();
  const links = [h.join('lab'), h.join('lab')];
  await answerAll(
    h,
    links.map((link) => ({ link, lie: honest })),
  );
  assert.equal(h.sink.rows.length, 40);
  const v = h.job.output.verifyCounts!;
  assert.equal(v.peerChecks, 0);
  assert.ok(referenceInputs() > 0);
  assert.equal(v.arbitrationInputs, 0);
});

test('a peer lost while it holds a check: the check is answered by the reference, nothing is lost', async () => {
  const { h, referenceInputs } = peerJob(40);
  await h.settle();
  const worker = h.join('a');
  const peer = h.join('b');
  // The peer never answers and then leaves: its checks (and its own batches) must not hang the job.
  await answerAll(h, [{ link: worker, lie: honest }], () => peer.batches.length >= 2);
  h.job.onClose(peer, 1001, 'gone');
  await answerAll(h, [{ link: worker, lie: honest }]);
  assert.equal(h.sink.rows.length, 40);
  assert.deepEqual(wrongRows(h), []);
  assert.ok(referenceInputs() > 0, 'the reference took over the checks');
});

test(`a host's check rate halves every ${TRUSTED_STEP} passes, down to ${RATE_FLOOR} of --verify, and is back at a lie`, async () => {
  const v = new Verifier<{ id: string }, number>(0.08, {
    reference: async (inputs) => inputs.map(() => 1),
    compare: (_id, answer) => (answer.ok && answer.row.class === 1 ? null : 'wrong'),
    release: () => undefined,
    caught: () => undefined,
    refused: () => undefined,
    failed: (err) => {
      throw err;
    },
    settled: () => undefined,
    random: () => 0,
  });
  const pass = async (n: number, cls = 1) => {
    for (let i = 0; i < n; i++) {
      v.accept('a1', 'host-a', [{ id: `x${i}` }], okItems(1, cls), [{ id: `x${i}`, error: null }]);
      await new Promise((r) => setImmediate(r));
    }
  };
  assert.equal(v.rateFor('host-a'), 0.08);
  await pass(TRUSTED_STEP);
  assert.equal(v.rateFor('host-a'), 0.04);
  await pass(TRUSTED_STEP * 4);
  assert.equal(v.rateFor('host-a'), 0.08 * RATE_FLOOR);
  await pass(1, 2);
  assert.equal(v.rateFor('host-a'), 0.08);
});
