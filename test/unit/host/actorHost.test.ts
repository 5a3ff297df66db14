import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { PROTOCOL_VERSION } from '../../../shared/protocol.ts';
import { answerAll, assertEachInputOnce, startHost, statuses } from '../../support/hostHarness.ts';
import { FakeLink, hello, okItems } from '../../support/jobHarness.ts';

test('admits tabs up to the pool maximum, stands the next one by with the reason, and admits it once an admitted tab leaves', async () => {
  const h = startHost(8, { poolMax: 2 });
  const [a, b, c] = [await h.join('ha'), await h.join('hb'), await h.join('hc', { ready: false })];
  assert.deepEqual(statuses([a, b, c]), ['admitted', 'admitted', 'standby']);
  const standby = c.json[0]!;
  assert.ok(standby.type === 'welcome' && standby.job === null);
  assert.match(standby.reason ?? '', /the pool is full \(2 of max 2 actors\); waiting for an actor to leave/);
  h.host.onClose(a, CLOSE.goingAway, 'tab closed');
  const promoted = c.json[1];
  assert.equal(promoted?.type, 'admission');
  assert.ok(promoted.type === 'admission' && promoted.status === 'admitted');
  assert.deepEqual(promoted.job?.eps, ['wasm'], 'the promoted tab is given the job to load');
  assert.match(h.logs.join('\n'), /actor-3 promoted from standby/);
});

test('no batch goes out until --pool min actors are ready; then the owner hears it started and each ready actor has work', async () => {
  const h = startHost(8, { poolMin: 2, poolMax: 2 });
  const a = await h.join('ha');
  assert.equal(a.batches.length, 0);
  assert.equal(h.heard.started, 0);
  const b = await h.join('hb');
  assert.equal(h.heard.started, 1);
  assert.equal(h.host.isStarted, true);
  assert.deepEqual([a.batches.length, b.batches.length], [1, 1]);
});

test('a tab whose host can never fit an actor is refused with the reason, the owner is told, and its ready is a violation', async () => {
  const h = startHost(4);
  const small = await h.join('small', { declared: { memoryBytes: 2 ** 29 } });
  assert.deepEqual(statuses([small]), ['rejected']);
  const welcome = small.json[0]!;
  assert.match(
    welcome.type === 'welcome' ? (welcome.reason ?? '') : '',
    /host small can never fit one actor: each needs .*1\.0 GiB memory, the host has .*512 MiB memory/,
  );
  assert.equal(h.heard.refused, 1);
  const ready = { type: 'ready' as const, ep: 'wasm' as const, probe: [], loadMs: 1, warmupMs: 0, modelFromCache: false, threads: 1 };
  assert.throws(() => h.host.onMessage(small, ready), /ready from actor-1, which is rejected, not admitted/);
  const admitted = await h.join('big', { ready: false });
  assert.throws(() => h.host.onMessage(admitted, { ...ready, ep: 'webgpu' }), /ready on webgpu, which actor-2 was not offered \(wasm\)/);
  assert.throws(() => h.host.onMessage(admitted, hello('big')), /hello sent twice/);
});

test('a page speaking another protocol version is told to reload and closed with 1008, and takes no slot', async () => {
  const h = startHost(4, { poolMax: 1 });
  const old = new FakeLink(h.clock);
  h.host.onMessage(old, { ...hello('old'), protocol: PROTOCOL_VERSION + 1 });
  assert.equal(old.closed?.code, CLOSE.policyViolation);
  const told = old.json[0];
  assert.ok(told?.type === 'shutdown');
  assert.match(told.reason, new RegExp(`speaks protocol ${PROTOCOL_VERSION + 1}, the coordinator ${PROTOCOL_VERSION}; reload the page`));
  assert.deepEqual(statuses([await h.join('current')]), ['admitted'], 'the pool of one is still free');
});

test("a batch the actor's own code fails is retried, then its input gets an ACTOR_ERROR row; the tab is never evicted for it", async () => {
  const h = startHost(1, { batchSize: 1, retries: 3 });
  const a = await h.join('ha');
  for (let tries = 0; tries < 4; tries++) {
    const [batchId] = h.open(a);
    assert.ok(batchId !== undefined, `try ${tries + 1} was sent`);
    h.failBatch(a, batchId, 'ACTOR_ERROR');
    await h.settle();
  }
  assert.equal(a.closed, null, 'four failures of the user code in a row, and the tab is still serving');
  assert.equal(h.errorRows.length, 1);
  assert.equal(h.errorRows[0]!.error.code, 'ACTOR_ERROR');
  assert.match(h.errorRows[0]!.error.message, /^in-0: ACTOR_ERROR on purpose \(on every try \(--max-retries 3\)\)$/);
  assert.equal(h.host.idle, true);
});

test('a tab that lost its GPU device is evicted at the first failure and its batch runs on another actor, written once', async () => {
  const h = startHost(4);
  const lost = await h.join('gpu-host');
  const [batchId] = h.open(lost);
  const other = await h.join('other');
  h.failBatch(lost, batchId!, 'DEVICE_LOST');
  assert.deepEqual(lost.closed, { code: CLOSE.evicted, reason: 'GPU device lost' });
  await answerAll(h, [other]);
  assertEachInputOnce(h, 4);
  assert.ok(h.rows.every((r) => r.actor === 'actor-2'));
  assert.deepEqual(h.errorRows, []);
});

test('a result with the wrong row count closes the tab with 4002; nothing of it is written and its batch runs elsewhere', async () => {
  const h = startHost(4, { batchSize: 2 });
  const liar = await h.join('liar');
  const [batchId] = h.open(liar);
  h.answer(liar, batchId!, okItems(1));
  assert.deepEqual(liar.closed, { code: CLOSE.badResult, reason: 'bad result: 1 items for a batch of 2' });
  assert.deepEqual(h.rows, []);
  const honest = await h.join('honest');
  await answerAll(h, [honest]);
  assertEachInputOnce(h, 4);
});

test('an actor that cannot load is closed normally and the owner told why; a standby tab gets its slot; none left: emptied', async () => {
  const h = startHost(4, { poolMax: 1 });
  const [a, b] = [await h.join('ha', { ready: false }), await h.join('hb', { ready: false })];
  assert.deepEqual(statuses([a, b]), ['admitted', 'standby']);
  h.host.onMessage(a, { type: 'actor-error', code: 'MODEL_LOAD_FAILED', message: 'out of memory' });
  assert.deepEqual(a.closed, { code: CLOSE.normal, reason: 'actor failed: MODEL_LOAD_FAILED' });
  assert.equal(h.heard.actorFailed.length, 1);
  assert.match(h.heard.actorFailed[0]!, /^actor-1: .*out of memory/);
  assert.ok(b.json.some((m) => m.type === 'admission' && m.status === 'admitted'));
  assert.equal(h.heard.emptied, 0);
  h.host.onMessage(b, { type: 'actor-error', code: 'MODEL_LOAD_FAILED', message: 'out of memory' });
  assert.equal(h.heard.emptied, 1, 'no tab holds a slot any more');
});

test('a tab the standing pool wants back gets no new batch, and is handed back (4005) once its batches are answered', async () => {
  const h = startHost(16, { batchSize: 2, inFlight: 2 });
  const a = await h.join('ha');
  const [first, second] = h.open(a);
  assert.ok(first !== undefined && second !== undefined);
  h.host.retire(a, 'job j2 is below its share');
  assert.match(h.logs.join('\n'), /actor-1 is handed back to the pool \(job j2 is below its share\) once its 2 batch\(es\) are in/);
  h.answer(a, first);
  await h.settle();
  assert.equal(a.closed, null, 'a batch is still out on it');
  assert.equal(a.batches.length, 2, 'no new batch for a retiring tab');
  h.answer(a, second);
  assert.deepEqual(a.closed, { code: CLOSE.released, reason: 'handed back' });
  assert.equal(h.rows.length, 4, 'both batches it held are written');
});

test("barring a host closes each of its tabs with 4004 and refuses its later tabs; the other host's tab does the work", async () => {
  const h = startHost(8, { batchSize: 2 });
  const liars = [await h.join('liar'), await h.join('liar')];
  const honest = await h.join('honest');
  h.host.bar({ hostId: 'liar' }, 'two of its actors disagreed with the reference');
  for (const l of liars) {
    assert.equal(l.closed?.code, CLOSE.barred);
    assert.ok(l.json.some((m) => m.type === 'shutdown' && m.reason === 'two of its actors disagreed with the reference'));
  }
  const again = await h.join('liar');
  assert.deepEqual(statuses([again]), ['rejected']);
  const refusal = again.json[0]!;
  assert.match(refusal.type === 'welcome' ? (refusal.reason ?? '') : '', /host liar is barred from this job: two of its actors disagreed/);
  await answerAll(h, [honest]);
  assertEachInputOnce(h, 8);
  assert.ok(h.rows.every((r) => r.actor === 'actor-3'));
});

test('while draining a new tab is turned away as the job finishes; shutdown tells each tab why and closes it as job done', async () => {
  const h = startHost(8);
  const a = await h.join('ha');
  h.host.drain();
  const late = new FakeLink(h.clock);
  h.host.onMessage(late, hello('late'));
  assert.deepEqual(late.closed, { code: CLOSE.jobDone, reason: 'job finishing' });
  assert.ok(late.json.some((m) => m.type === 'shutdown' && /no new actors are needed/.test(m.reason)));
  h.host.shutdown('the job is done');
  assert.deepEqual(a.closed, { code: CLOSE.jobDone, reason: 'job done' });
  assert.ok(a.json.some((m) => m.type === 'shutdown' && m.reason === 'the job is done'));
});

/** The threads each message to `link` told it: its welcome's job, then each re-plan. */
function threadsTold(link: FakeLink): number[] {
  return link.json.flatMap((m) =>
    m.type === 'threads' ? [m.numThreads] : (m.type === 'welcome' || m.type === 'admission') && m.job ? [m.job.numThreads] : [],
  );
}

test('an actor alone on a 4-CPU host runs 4 threads; a second makes each 2; when it leaves the first goes back to 4', async () => {
  const h = startHost(8, { batchSize: 1 });
  const a = await h.join('h4', { declared: { cpus: 4 } });
  assert.deepEqual(threadsTold(a), [4]);
  const b = await h.join('h4');
  assert.deepEqual(threadsTold(a), [4, 2], 'the first hears its new share');
  assert.deepEqual(threadsTold(b), [2]);
  const other = await h.join('elsewhere', { declared: { cpus: 2 } });
  assert.deepEqual(threadsTold(other), [2], 'another host is planned on its own');
  assert.deepEqual(threadsTold(a), [4, 2], 'an actor on another host changes nothing here');
  // The status shows what runs (the tab's word) beside what was planned, until the tab says it follows.
  const statusOf = (id: string) => h.host.pool.actors.get(id)!;
  assert.equal(statusOf('actor-1').threads, 4);
  assert.equal(statusOf('actor-1').threadsPlanned, 2);
  h.host.onMessage(a, { type: 'threads', threads: 2 });
  assert.equal(statusOf('actor-1').threads, 2);
  h.host.onClose(b, CLOSE.goingAway, 'tab closed');
  assert.deepEqual(threadsTold(a), [4, 2, 4]);
});

test('--num-cpus pins every actor to its threads whatever its host has, and nothing is re-planned', async () => {
  const h = startHost(8, { threads: 3 });
  const a = await h.join('h16', { declared: { cpus: 16 } });
  const b = await h.join('h16');
  assert.deepEqual([threadsTold(a), threadsTold(b)], [[3], [3]]);
});
