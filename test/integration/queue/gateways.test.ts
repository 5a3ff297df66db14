/**
 * A job on NATS JetStream, with real processes (`tabpool run --queue`, `tabpool gateway`), a real
 * nats-server, and actors that run the model with onnxruntime-node: a gateway SIGKILLed mid-job
 * loses nothing, an actor lost inside a live gateway hands its batch back at once, the pool and
 * the hosts' budgets count every gateway's actors, and foreign messages on the job's subjects are
 * refused without touching the output.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { startNats } from '../../support/natsServer.ts';
import { QueueProcesses, queueSuite, rowsIn, until } from '../../support/queueJob.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions } from '../../support/reference.ts';
import { startActors, type SimulatedActor, type SimulatedActorOptions } from '../../support/simulatedActor.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { PNG } from 'pngjs';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { mulberry32, writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 80;

const q = queueSuite('queue', IMAGES, 23);

/** PNGs of random pixels (they do not compress): `size`² pixels, about 3·size² bytes each. */
async function writeNoisePngs(dir: string, count: number, size: number): Promise<{ id: string; path: string }[]> {
  const rand = mulberry32(99);
  const files: { id: string; path: string }[] = [];
  for (let n = 0; n < count; n++) {
    const png = new PNG({ width: size, height: size });
    for (let i = 0; i < png.data.length; i++) png.data[i] = i % 4 === 3 ? 255 : Math.floor(rand() * 256);
    const file = path.join(dir, `noise${n}.png`);
    await fs.writeFile(file, PNG.sync.write(png));
    files.push({ id: `noise${n}.png`, path: file });
  }
  return files;
}

/** The admission status an actor was last told: admitted, standby or rejected. */
function statusOf(a: SimulatedActor): string | null {
  for (let i = a.received.length - 1; i >= 0; i--) {
    const m = a.received[i]!;
    if (m.type === 'welcome' || m.type === 'admission') return m.status;
  }
  return null;
}

test(
  'a gateway SIGKILLed mid-job loses nothing: its batches go to another gateway, every input once, top-1 ' + 'equal to onnxruntime-node',
  async () => {
    const out = path.join(q.tmp, 'failover.jsonl');
    const run = await q.procs.run('failover', out, { ackWait: '2s' });
    const a = await q.procs.gateway('failover');
    // A's actors answer a few batches, then sit on the ones they hold (and A on the ones it took for them).
    await startActors(a.workerUrl, 2, actorsHoldingAfter(3).options);
    await until('rows from gateway A', async () => (await rowsIn(out)) >= 12);
    a.kill('SIGKILL');
    assert.equal(await a.exited, 128);
    const b = await q.procs.gateway('failover');
    await startActors(b.workerUrl, 2, { mode: 'real' });
    assert.equal(await run.exited, 0, run.stderr());
    await assertCompleteAndCorrect(out, q.files, q.reference);
    assert.equal(await b.exited, 0, 'gateway B exits once the job is done');
    assert.match(run.stdout(), /gw-[0-9a-f]+\/actor-\d \(wasm, host [^)]+\): \d+ images/);
  },
);

test('an actor lost inside a live gateway hands its batch back at once, not after ack_wait', async () => {
  const out = path.join(q.tmp, 'nak.jsonl');
  // Ten minutes of ack_wait: the job can only finish in time if the lost batch is handed back at once.
  const run = await q.procs.run('nak', out, { ackWait: '10m' });
  const a = await q.procs.gateway('nak');
  const [quitter] = (await startActors(a.workerUrl, 1, { mode: 'real', onBatch: (_b, actor) => actor.close(1000, 'tab closed') })).actors;
  await quitter!.closed;
  const b = await q.procs.gateway('nak');
  await startActors(b.workerUrl, 2, { mode: 'real' });
  assert.equal(await run.exited, 0, run.stderr());
  await assertCompleteAndCorrect(out, q.files, q.reference);
  assert.match(a.stderr(), /actor-1 left: socket closed.*; \d batch\(es\) requeued/);
  assert.match(a.stderr(), /unit \d+ handed back to the queue for any gateway: no actor (here can take it now|is left here)/);
});

test("the pool and each host's budget count the actors of every gateway", async () => {
  const out = path.join(q.tmp, 'pool.jsonl');
  const run = await q.procs.run('pool', out, { pool: 2, ep: 'wasm', numCpus: 1 });
  const a = await q.procs.gateway('pool');
  const b = await q.procs.gateway('pool');
  const hold: SimulatedActorOptions['onBatch'] = async (_b, actor) => void (await actor.closed);
  const onA = (await startActors(a.workerUrl, 1, { mode: 'real', hostId: 'shared-host', declared: { cpus: 1 }, onBatch: hold })).actors[0]!;
  await until("A's actor admitted", () => statusOf(onA) === 'admitted');
  // Same host, other gateway: the host's one CPU is taken.
  const sameHost = (await startActors(b.workerUrl, 1, { mode: 'real', hostId: 'shared-host', declared: { cpus: 1 }, onBatch: hold }))
    .actors[0]!;
  await until("B's same-host actor answered", () => statusOf(sameHost) !== null);
  assert.equal(statusOf(sameHost), 'standby');
  const second = (await startActors(b.workerUrl, 1, { mode: 'real', hostId: 'host-2', declared: { cpus: 1 }, onBatch: hold })).actors[0]!;
  await until("B's second actor admitted", () => statusOf(second) === 'admitted');
  // Two actors in the job: a third, on a third host and either gateway, waits.
  const third = (await startActors(a.workerUrl, 1, { mode: 'real', hostId: 'host-3', declared: { cpus: 1 }, onBatch: hold })).actors[0]!;
  await until("A's third actor answered", () => statusOf(third) !== null);
  assert.equal(statusOf(third), 'standby');
  assert.match(JSON.stringify(third.received), /pool is full/);
  // A's first actor leaves: a slot and the shared host's CPU come free, and an actor on standby takes them.
  onA.close();
  await until('a standby actor promoted', () => statusOf(sameHost) === 'admitted' || statusOf(third) === 'admitted');
  run.kill('SIGKILL');
});

test("foreign and malformed messages on the job's subjects are refused with a logged reason and leave the output right", async () => {
  const out = path.join(q.tmp, 'foreign.jsonl');
  const run = await q.procs.run('foreign', out);
  const a = await q.procs.gateway('foreign');
  const nc = await connect({ servers: q.nats.url });
  const js = jetstream(nc);
  const forged = headers();
  forged.set('Tabpool-Sig', 'ab'.repeat(32));
  await js.publish('tabpool.foreign.work', new TextEncoder().encode('not a unit'));
  await js.publish('tabpool.foreign.work', new TextEncoder().encode('{"v":1}'), { headers: forged });
  await js.publish(
    'tabpool.foreign.results',
    new TextEncoder().encode(
      JSON.stringify({
        v: 1,
        unit: 1,
        gateway: 'x',
        answers: [{ id: q.files[0]!.id, actor: 'x', host: 'x', ep: 'wasm', result: { ok: true, row: { class: 999 } } }],
      }),
    ),
    { headers: forged },
  );
  await nc.close();
  await startActors(a.workerUrl, 2, { mode: 'real' });
  assert.equal(await run.exited, 0, run.stderr());
  await assertCompleteAndCorrect(out, q.files, q.reference);
  assert.match(run.stderr(), /refused a message on tabpool\.foreign\.results \(stream seq \d+\): not signed with this job's secret/);
  assert.match(a.stderr(), /refused a message on tabpool\.foreign\.work \(stream seq \d+\): not signed with this job's secret/);
});

test('a job name already on the queue is refused without --resume, and a gateway for an unknown job says how to start it', async () => {
  const out = path.join(q.tmp, 'again.jsonl');
  const again = await q.procs.run('failover', out).catch((e: Error) => e);
  assert.ok(again instanceof Error, 'run must exit before listening');
  assert.match(
    again.message,
    /job failover already exists on nats:\/\/127\.0\.0\.1:\d+ \(phase done\): add --resume to continue it, or choose another --job/,
  );
  const lost = await q.procs.gateway('nosuchjob', { wait: '1s' }).catch((e: Error) => e);
  assert.ok(lost instanceof Error);
  assert.match(lost.message, /no job nosuchjob on nats:\/\/127\.0\.0\.1:\d+ after 1s: start it with tabpool run --queue/);
});

test("inputs larger than the server's maximum message go through the object store", async () => {
  // A server taking at most 256 KiB a message, and images of about 600 KiB each beside small ones.
  const small = await startNats({ maxPayload: 256 * 1024 });
  const bigData = path.join(q.tmp, 'big');
  const bigFiles = [...(await writeTestPngs(bigData, 5, 64, 64, 6)), ...(await writeNoisePngs(bigData, 3, 448))];
  const sizes = await Promise.all(bigFiles.map(async (f) => (await fs.stat(f.path)).size));
  assert.ok(sizes.filter((s) => s > 256 * 1024).length === 3, `three inputs larger than a message (${sizes.join(', ')} bytes)`);
  const bigReference = await referencePredictions((await ensureBuiltinModel(CACHE_DIR, 'tiny')).path, bigFiles);
  const large = new QueueProcesses(
    () => small.url,
    () => bigData,
  );
  try {
    const out = path.join(q.tmp, 'big.jsonl');
    const run = await large.run('big', out);
    const a = await large.gateway('big');
    await startActors(a.workerUrl, 2, { mode: 'real' });
    assert.equal(await run.exited, 0, run.stderr());
    await assertCompleteAndCorrect(out, bigFiles, bigReference);
  } finally {
    await large.killAll();
    await small.stop();
  }
});

/** Answers honestly but moves every input's top class to the next one: a tab sending wrong results. */
const shiftsClasses: SimulatedActorOptions = {
  mode: 'real',
  hostId: 'liar-host',
  onBatch: async (batch, actor) => {
    const r = await actor.answer(batch);
    for (const item of r.items) {
      if (!item.ok) continue;
      const topk = item.row.topk as { class: number; label: string; score: number }[];
      topk[0]!.class = (topk[0]!.class + 1) % 1000;
      item.row.class = topk[0]!.class;
    }
    actor.send(r);
  },
};

test('a gateway whose last actor leaves mid-unit gives the unit back, answers and all: another gateway finishes the job', async () => {
  const out = path.join(q.tmp, 'left-mid-unit.jsonl');
  // Units of 16 cut into batches sized to a slow actor's speed (2 img/s: ~3 inputs), so one unit is answered in part.
  const run = await q.procs.run('left-mid-unit', out, { batchSize: 'auto' });
  const a = await q.procs.gateway('left-mid-unit');
  const b = await q.procs.gateway('left-mid-unit');
  let answered = 0;
  const leaver = (
    await startActors(a.workerUrl, 1, {
      mode: 'real',
      reportSpeed: 2,
      onBatch: async (batch, actor) => {
        if (answered++ === 0) return actor.send(await actor.answer(batch));
        actor.close(1000, 'leaving mid-unit');
      },
    })
  ).actors[0]!;
  await leaver.closed;
  await startActors(b.workerUrl, 2, { mode: 'real' });
  // Before the fix A kept the part-answered unit alive for ever and run waited: bounded here, so the test fails instead.
  const ended = await Promise.race([
    run.exited,
    new Promise<string>((r) => setTimeout(() => r('still running after 90 s'), 90_000).unref()),
  ]);
  assert.equal(
    ended,
    0,
    `${String(ended)}\nrun: ${run.stderr().slice(-3000)}\nA: ${a.stderr().slice(-2000)}\nB: ${b.stderr().slice(-2000)}`,
  );
  await assertCompleteAndCorrect(out, q.files, q.reference);
  assert.match(a.stderr(), /handed back to the queue for any gateway: no actor is left here/);
});

test('queue verification (default --verify): a host lying on two gateways is barred on both; every row right', async () => {
  const out = path.join(q.tmp, 'verified.jsonl');
  const run = await q.procs.run('verified', out, { verify: 0.05 });
  const a = await q.procs.gateway('verified');
  const b = await q.procs.gateway('verified');
  const onA = (await startActors(a.workerUrl, 1, shiftsClasses)).actors[0]!;
  const onB = (await startActors(b.workerUrl, 1, shiftsClasses)).actors[0]!;
  await startActors(b.workerUrl, 2, { mode: 'real' });
  assert.equal(await run.exited, 0, run.stderr());
  await assertCompleteAndCorrect(out, q.files, q.reference);
  // The first liar is barred alone; its host's actor on the other gateway lies too, and the host goes.
  assert.equal((await onA.closed).code, CLOSE.barred);
  assert.equal((await onB.closed).code, CLOSE.barred);
  assert.match(run.stderr(), /host liar-host .*barred|barred .*host liar-host/i);
});
