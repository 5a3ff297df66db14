/**
 * The job in-process: fake tabs, an in-memory output and a clock the test moves. Every test ends
 * by checking the guarantee: each input has exactly one row.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { caps, okItems, runToEnd, simulate, startJob, type Harness } from '../../support/jobHarness.ts';

function assertEveryInputOnce(h: Harness, n: number): void {
  const ids = h.sink.rows.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length, 'an input has two rows');
  assert.equal(ids.length, n, 'an input has no row');
}

test('hands batches to the ready actor with the fewest in flight, up to --max-tasks-in-flight each', async () => {
  const h = startJob(64, { batchSize: 4, maxTasksInFlight: 2 });
  await h.job.allReadIn;
  const a = h.join();
  const b = h.join();
  await h.settle();
  assert.equal(a.batches.length, 2);
  assert.equal(b.batches.length, 2);
  h.answer(a, a.batches[0]!.batchId);
  assert.equal(a.batches.length, 3, 'the freed slot is filled at once');
  assert.equal(b.batches.length, 2);
  await runToEnd(h, [a, b]);
  await h.job.ended;
  assertEveryInputOnce(h, 64);
});

test('splits the tail so that every actor has work to the end', async () => {
  const h = startJob(40, { batchSize: 16, maxTasksInFlight: 2, pool: { min: 2, max: 2 } });
  await h.job.allReadIn;
  const [a, b] = [h.join(), h.join()];
  await h.settle();
  // 40 inputs over 2 actors × 2 slots × 2: batches of at most 40 / 8 = 5 from the start of the tail.
  for (const l of [a, b]) for (const batch of l.batches) assert.ok(batch.items <= 5, `a tail batch of ${batch.items}`);
  await runToEnd(h, [a, b]);
  await h.job.ended;
  assertEveryInputOnce(h, 40);
});

test('evicts an actor that holds a batch past --batch-timeout and runs the batch elsewhere', async () => {
  const h = startJob(8, { batchSize: 4, maxTasksInFlight: 1, batchTimeoutMs: 6_000 });
  await h.job.allReadIn;
  const frozen = h.join();
  const healthy = h.join();
  await h.settle();
  h.answer(healthy, healthy.batches[0]!.batchId);
  h.clock.advance(7_000);
  assert.equal(frozen.closed?.code, CLOSE.evicted);
  assert.match(h.logs.join('\n'), /missed the deadline for batch \d+ \(6s\): evicting it/);
  await runToEnd(h, [healthy]);
  await h.job.ended;
  assertEveryInputOnce(h, 8);
});

test('gives a tab 10 minutes for its first batch: a slow start (shader compilation) is not a frozen tab', async () => {
  const h = startJob(12, { batchSize: 4, maxTasksInFlight: 1 });
  await h.job.allReadIn;
  const a = h.join();
  await h.settle();
  h.clock.advance(9 * 60_000);
  assert.equal(a.closed?.code, undefined);
  h.clock.advance(2 * 60_000);
  assert.equal(a.closed?.code, CLOSE.evicted);
});

test("once measured, a batch may take 10× the actor's own time per image, and never less than 60 s", async () => {
  const h = startJob(12, { batchSize: 4, maxTasksInFlight: 1 });
  await h.job.allReadIn;
  const a = h.join();
  await h.settle();
  h.clock.advance(1_000);
  h.answer(a, a.batches[0]!.batchId);
  h.clock.advance(59_000);
  assert.equal(a.closed?.code, undefined);
  h.clock.advance(2_000);
  assert.equal(a.closed?.code, CLOSE.evicted);
  assert.match(a.closed!.reason, /within 60s/);
});

test('requeues the batches of a tab that closes mid-batch, and no input is lost', async () => {
  const h = startJob(32, { batchSize: 4 });
  await h.job.allReadIn;
  const leaving = h.join();
  const staying = h.join();
  await h.settle();
  const lost = leaving.batches.length;
  assert.ok(lost > 0);
  h.job.onClose(leaving, 1001, 'tab closed');
  assert.match(h.logs.join('\n'), new RegExp(`left: socket closed \\(1001 tab closed\\); ${lost} batch\\(es\\) requeued`));
  await runToEnd(h, [staying]);
  await h.job.ended;
  assertEveryInputOnce(h, 32);
});

test('evicts an actor whose batches fail three times in a row, and its work runs elsewhere', async () => {
  const h = startJob(24, { batchSize: 4, maxTasksInFlight: 1 });
  await h.job.allReadIn;
  const broken = h.join();
  await h.settle();
  for (let i = 0; i < 3; i++) {
    const last = broken.batches.at(-1)!;
    h.job.onMessage(broken, { type: 'batch-failed', batchId: last.batchId, code: 'INFERENCE_FAILED', message: 'session error' });
    await h.settle();
  }
  assert.equal(broken.closed?.code, CLOSE.evicted);
  assert.match(broken.closed!.reason, /3 failed batches in a row/);
  const good = h.join();
  await runToEnd(h, [good]);
  await h.job.ended;
  assertEveryInputOnce(h, 24);
  assert.equal(h.sink.rows.filter((r) => r.error).length, 0, 'an actor failing is not an input failing');
});

test('refuses a result that does not fit its batch: the liar is closed with 4002 and nothing of its answer is written', async () => {
  const h = startJob(8, { batchSize: 4, maxTasksInFlight: 1 });
  await h.job.allReadIn;
  const liar = h.join();
  await h.settle();
  const batch = liar.batches[0]!;
  h.job.onMessage(liar, {
    type: 'result',
    batchId: batch.batchId,
    items: okItems(batch.items, 99),
    timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 },
  });
  assert.equal(liar.closed?.code, CLOSE.badResult);
  assert.match(liar.closed!.reason, /class 99 out of range/);
  await h.settle();
  assert.equal(h.sink.rows.length, 0);
  const honest = h.join();
  await runToEnd(h, [honest]);
  await h.job.ended;
  assertEveryInputOnce(h, 8);
});

test('a result for a batch the actor does not hold is a protocol violation', async () => {
  const h = startJob(8);
  await h.job.allReadIn;
  const a = h.join();
  await h.settle();
  assert.throws(
    () => h.job.onMessage(a, { type: 'result', batchId: 999, items: okItems(1), timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } }),
    /does not hold/,
  );
});

test('at --join-timeout with fewer actors than the pool minimum, starts with those and says so', async () => {
  const h = startJob(8, { pool: { min: 3, max: 3 }, joinTimeoutMs: 5_000 });
  await h.job.allReadIn;
  const a = h.join();
  await h.settle();
  assert.equal(a.batches.length, 0, 'work waits for the pool minimum');
  h.clock.advance(5_000);
  await h.settle();
  assert.match(h.logs.join('\n'), /--join-timeout: starting with 1 ready actor\(s\), fewer than the pool's minimum of 3/);
  assert.ok(a.batches.length > 0);
});

test('at --join-timeout with no actor, fails with NO_ACTORS naming every tab that was refused and why', async () => {
  const h = startJob(8, { ep: 'webgpu', joinTimeoutMs: 5_000 });
  await h.job.allReadIn;
  const refused = h.join('laptop', caps('software'), false);
  assert.equal(refused.json[0]?.type === 'welcome' && refused.json[0].status, 'rejected');
  h.clock.advance(5_000);
  await assert.rejects(h.job.ended, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NO_ACTORS');
    assert.match(err.message, /no actor was ready after --join-timeout 5s/);
    assert.match(err.message, /actor-\d+ \(host laptop\): this browser's only WebGPU adapter is software/);
    return true;
  });
});

test('waits past --join-timeout while an actor is still loading the model', async () => {
  const h = startJob(4, { joinTimeoutMs: 5_000 });
  await h.job.allReadIn;
  const loading = h.join('h-slow', caps(), false);
  h.clock.advance(12_000);
  assert.equal(h.job.isFinished, false);
  h.job.onMessage(loading, { type: 'ready', ep: 'wasm', probe: [], loadMs: 12_000, warmupMs: 1, modelFromCache: false, threads: 1 });
  await runToEnd(h, [loading]);
  await h.job.ended;
  assertEveryInputOnce(h, 4);
});

test('drains on Ctrl-C: no new batches, in-flight ones finish, and the rest stays unwritten for --resume', async () => {
  const h = startJob(40, { batchSize: 4, maxTasksInFlight: 1 });
  await h.job.allReadIn;
  const a = h.join();
  await h.settle();
  const first = a.batches[0]!;
  h.job.drain();
  h.answer(a, first.batchId);
  await h.job.ended;
  assert.equal(a.batches.length, 1, 'no batch after the drain began');
  assert.equal(h.sink.rows.length, first.items);
  assert.equal(h.job.interrupted, true);
});

// ---------------------------------------------------------------- mixed pools

test('batch sizes follow measured speed: a 10× faster actor gets batches several times larger', async () => {
  const h = startJob(3000, { batchSize: 'auto', pool: { min: 2, max: 2 } });
  await h.settle();
  const slow = h.join('slow', caps(), true, 10);
  const fast = h.join('fast', caps(), true, 100);
  await simulate(h, [
    { link: slow, speed: 10 },
    { link: fast, speed: 100 },
  ]);
  await h.job.ended;
  assertEveryInputOnce(h, 3000);
  const steady = (l: typeof slow) => l.batches.slice(2, -4).map((b) => b.items);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // ~1.5 s of each actor's work: 15 for the slow one, 150 capped at the memory limit (64) for the fast.
  assert.ok(mean(steady(slow)) >= 10 && mean(steady(slow)) <= 20, `slow: ${steady(slow).join(',')}`);
  assert.ok(mean(steady(fast)) >= 50, `fast: ${steady(fast).join(',')}`);
});

test("a mixed pool finishes close to the ideal time: images ÷ the sum of the actors' speeds", async () => {
  const h = startJob(2000, { batchSize: 'auto', pool: { min: 3, max: 3 } });
  await h.settle();
  const speeds = [100, 10, 1];
  const links = speeds.map((v, i) => h.join(`h${i}`, caps(), true, v));
  const ms = await simulate(
    h,
    links.map((link, i) => ({ link, speed: speeds[i]! })),
  );
  await h.job.ended;
  assertEveryInputOnce(h, 2000);
  const ideal = (2000 / 111) * 1000;
  assert.ok(ms / ideal <= 1.1, `job ${ms.toFixed(0)} ms, ideal ${ideal.toFixed(0)} ms: ${(ms / ideal).toFixed(3)}×`);
});

test('an actor too slow to finish even one input before the rest of the pool finishes the job gets none', async () => {
  const h = startJob(50, { batchSize: 'auto', pool: { min: 2, max: 2 } });
  await h.settle();
  const fast = h.join('fast', caps(), true, 100);
  const crawler = h.join('crawler', caps(), true, 0.1);
  await simulate(h, [
    { link: fast, speed: 100 },
    { link: crawler, speed: 0.1 },
  ]);
  await h.job.ended;
  assertEveryInputOnce(h, 50);
  assert.deepEqual(crawler.batches, []);
});

test('a slow actor holding the tail is covered by an idle one; the copy yields one row, and the late answer is no failure', async () => {
  const h = startJob(40, { batchSize: 'auto', pool: { min: 2, max: 2 } });
  await h.settle();
  // The slow tab claimed to be fast (its probe), so it gets real work before its pace is known.
  const slow = h.join('slow', caps(), true, 50);
  const fast = h.join('fast', caps(), true, 50);
  const ms = await simulate(h, [
    { link: slow, speed: 0.5 },
    { link: fast, speed: 50 },
  ]);
  await h.job.ended;
  assertEveryInputOnce(h, 40);
  const cancels = slow.json.filter((m) => m.type === 'cancel');
  assert.ok(cancels.length > 0, 'the slow copy was cancelled');
  assert.ok(ms < (40 / 50) * 1000 * 2 + 1000, `the job waited for the slow tab: ${ms} ms`);
  // Its cancelled batch answers late: ignored, not a failure, and no second row.
  const late = cancels[0]!.type === 'cancel' ? cancels[0]!.batchId : -1;
  h.answer(slow, late);
  assert.notEqual(slow.closed?.code, CLOSE.badResult, 'a late answer is not a violation');
  assert.notEqual(slow.closed?.code, CLOSE.evicted);
  assertEveryInputOnce(h, 40);
  assert.equal(h.job.pool.actors.get('actor-1')?.failures ?? 0, 0);
  assert.ok(h.job.host.stats.speculativeCopies > 0);
});

test('a pool whose only actors take 30 s and 40 s an input starts at once and finishes (no actor is starved)', async () => {
  const h = startJob(4, { batchSize: 'auto', pool: { min: 2, max: 2 } });
  await h.settle();
  const a = h.join('a', caps(), true, 1 / 30);
  const b = h.join('b', caps(), true, 1 / 40);
  await h.settle();
  assert.ok(a.batches.length + b.batches.length > 0, 'work was sent as soon as both were ready');
  const ms = await simulate(h, [
    { link: a, speed: 1 / 30 },
    { link: b, speed: 1 / 40 },
  ]);
  assertEveryInputOnce(h, 4);
  await h.job.ended;
  assert.ok(b.batches.length > 0, 'the slower one helped too');
  // Ideal: 4 inputs over 1/30 + 1/40 img/s ≈ 69 s; two on each (60 s, 80 s) is the best whole split.
  assert.ok(ms <= 90_000, `took ${(ms / 1000).toFixed(0)} s`);
});

test('a disk slower than the actors holds reading and dispatch back: rows waiting for it stay within the read-ahead window', async () => {
  // One actor, batches of 4, one in flight: the window is max(4, 1 × 1 × 2) × 4 = 16 inputs, rows not yet on disk included.
  const h = startJob(400, { batchSize: 4, maxTasksInFlight: 1, pool: { min: 1, max: 1 } });
  h.sink.pause();
  const a = h.join();
  await h.settle();
  for (let answered = 0; a.batches.length > answered; answered++) {
    h.answer(a, a.batches[answered]!.batchId);
    await h.settle();
  }
  // The window, a batch in flight, and the reads already under way when the window filled (up to 32): not the 400.
  assert.ok(h.sink.rows.length <= 16 + 4 + 32, `${h.sink.rows.length} rows wait for the disk`);
  assert.ok(h.sink.rows.length >= 12, `${h.sink.rows.length} rows: the window was used`);
  h.sink.resume();
  await runToEnd(h, [a]);
  await h.job.ended;
  assertEveryInputOnce(h, 400);
});
