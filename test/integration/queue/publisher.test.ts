/**
 * `run`'s side of the work queue, in-process against a real nats-server (the job's streams and
 * buckets made as `run --queue` makes them): inputs cut into units by count and by bytes, each unit
 * recorded in the job's units bucket before it goes on the work stream, signed, with its large inputs
 * in the object store; a unit put on the queue again under its id (a resume) stored once; recorded
 * units listed for a resume and forgotten without a trace.
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { StoredMsg } from '@nats-io/jetstream';
import type { InlineItem } from '../../../coordinator/io/inputItem.ts';
import { decodeUnit, SIGNATURE_HEADER, signedBy } from '../../../coordinator/queue/envelope.ts';
import { forgetUnit, Publisher, recordedUnits, unitKey, type PublishedUnit } from '../../../coordinator/queue/publisher.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { openTestJob, streamMessages, type TestJob } from '../../support/queueTestJob.ts';

let nats: NatsServer;
let jobs = 0;

before(async () => {
  nats = await startNats();
});

after(async () => {
  await nats.stop();
});

interface Run {
  job: TestJob;
  publisher: Publisher;
  /** Units the publisher reported (to the collector, in `run`), in order. */
  units: PublishedUnit[];
}

/** A `run` of a fresh job (or of `job` again, resumed: its next incarnation) and its publisher. */
async function openRun(t: TestContext, unitSize: number, job = `publish-${++jobs}`, secret?: string): Promise<Run> {
  const tj = await openTestJob(nats.url, job);
  tj.secret = secret ?? tj.secret;
  const units: PublishedUnit[] = [];
  const publisher = new Publisher(tj.q, tj.secret, unitSize, tj.first, (u) => units.push(u));
  t.after(async () => {
    await publisher.idle().catch(() => undefined);
    await tj.q.nc.close();
  });
  return { job: tj, publisher, units };
}

/** An input of `size` bytes (each byte its index, offset by `seed`). */
function input(id: string, size = 3, seed = 0): InlineItem {
  return { id, source: `/data/${id}.png`, bytes: Uint8Array.from({ length: size }, (_, i) => (i + seed) & 0xff) };
}

/** Every message the work stream stores, by its message id (units are published concurrently: in no set order). */
async function workMessages(job: TestJob): Promise<Map<string, StoredMsg>> {
  const { q } = job;
  const info = await q.jsm.streams.info(q.names.workStream);
  const out = new Map<string, StoredMsg>();
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await q.jsm.streams.getMessage(q.names.workStream, { seq });
    if (m) out.set(m.header.get('Nats-Msg-Id'), m);
  }
  return out;
}

/** A stored work message as a gateway reads it: signed with the job's secret, its header and items. */
function decoded(job: TestJob, m: StoredMsg): ReturnType<typeof decodeUnit> & { ok: true } {
  assert.ok(signedBy(job.secret, m.data, m.header.get(SIGNATURE_HEADER)), `work message ${m.seq} is signed with the job's secret`);
  const d = decodeUnit(m.data);
  assert.ok(d.ok, d.ok ? '' : d.error);
  return d;
}

test('inputs are cut into units of the unit size as they come, and flush puts the last, partial unit on the queue', async (t) => {
  const run = await openRun(t, 4);
  const items = Array.from({ length: 10 }, (_, n) => input(`i${n}`, 3, n));
  for (const [n, item] of items.entries()) {
    run.publisher.add(item);
    // Reported as it is cut, before it is on the queue: its result cannot come first.
    assert.equal(run.units.length, Math.floor((n + 1) / 4), `units reported after ${n + 1} inputs`);
  }
  run.publisher.flush();
  run.publisher.flush();
  await run.publisher.idle();
  const first = run.job.first;
  assert.deepEqual(
    run.units.map((u) => [u.id, u.items.map((i) => i.id)]),
    [
      [first, ['i0', 'i1', 'i2', 'i3']],
      [first + 1, ['i4', 'i5', 'i6', 'i7']],
      [first + 2, ['i8', 'i9']],
    ],
  );
  const stored = await workMessages(run.job);
  assert.deepEqual(
    [...stored.keys()].sort(),
    run.units.map((u) => `unit-${u.id}`),
    'each unit on the work stream once, its id its message id; an empty flush puts nothing',
  );
  for (const unit of run.units) {
    const d = decoded(run.job, stored.get(`unit-${unit.id}`)!);
    assert.equal(d.value.header.unit, unit.id);
    assert.deepEqual(
      d.value.header.ids,
      unit.items.map((i) => i.id),
    );
    assert.deepEqual(
      d.value.items,
      unit.items.map((i) => ({ bytes: (i as InlineItem).bytes })),
      'every input inline, its bytes intact',
    );
  }
});

test('inputs are cut by bytes too, and an input over half a message goes through the object store', async (t) => {
  const run = await openRun(t, 10);
  const max = run.job.q.maxPayload;
  assert.equal(max, 1024 * 1024, "nats-server's default largest message");
  // Three of these fill most of a message; the large one does not fit in one inline.
  const items = [input('a', 300_000, 1), input('b', 300_000, 2), input('c', 300_000, 3), input('big', 600_000, 4), input('d', 300_000, 5)];
  for (const item of items) run.publisher.add(item);
  run.publisher.flush();
  await run.publisher.idle();
  assert.deepEqual(
    run.units.map((u) => u.items.map((i) => i.id)),
    [['a', 'b', 'c', 'big'], ['d']],
    'a fourth inline input would not fit; the large one takes no room',
  );
  const stored = await workMessages(run.job);
  assert.equal(stored.size, 2);
  for (const m of stored.values()) assert.ok(m.data.byteLength < max, `a unit of ${m.data.byteLength} bytes fits a message`);
  const [unit, last] = run.units.map((u) => u.id);
  const d = decoded(run.job, stored.get(`unit-${unit}`)!);
  assert.deepEqual(d.value.items.slice(0, 3), [{ bytes: items[0]!.bytes }, { bytes: items[1]!.bytes }, { bytes: items[2]!.bytes }]);
  assert.deepEqual(d.value.items[3], { blob: `unit-${unit}-3` });
  assert.deepEqual(d.value.header.items[3], { blob: `unit-${unit}-3`, byteLength: 600_000 });
  const blob = await run.job.q.blobs.getBlob(`unit-${unit}-3`);
  assert.ok(blob, 'the large input is in the object store');
  assert.ok(Buffer.from(blob).equals(Buffer.from(items[3]!.bytes)), 'with its bytes intact');
  assert.deepEqual(decoded(run.job, stored.get(`unit-${last}`)!).value.items, [{ bytes: items[4]!.bytes }]);
});

test('a unit whose record cannot be written is never put on the queue, and idle() reports the failure', async (t) => {
  const run = await openRun(t, 2);
  // The units bucket gone (a store purged by hand): recording a unit fails.
  await run.job.q.jsm.streams.delete(`KV_${run.job.q.names.unitsBucket}`);
  run.publisher.add(input('a'));
  run.publisher.add(input('b'));
  await assert.rejects(run.publisher.idle());
  assert.equal(await streamMessages(run.job.q, run.job.q.names.workStream), 0, 'an unrecorded unit is not on the queue');
});

test('recorded units are listed with their inputs for a resume, and a forgotten one leaves no trace in the bucket', async (t) => {
  const run = await openRun(t, 2);
  for (const id of ['a', 'b', 'c', 'd', 'e']) run.publisher.add(input(id));
  run.publisher.flush();
  await run.publisher.idle();
  const [u0, u1, u2] = run.units.map((u) => u.id);
  const recorded = await recordedUnits(run.job.q);
  assert.deepEqual(
    [...recorded].sort(([x], [y]) => x - y),
    [
      [u0, { ids: ['a', 'b'], sources: ['/data/a.png', '/data/b.png'] }],
      [u1, { ids: ['c', 'd'], sources: ['/data/c.png', '/data/d.png'] }],
      [u2, { ids: ['e'], sources: ['/data/e.png'] }],
    ],
  );
  await forgetUnit(run.job.q, u1!);
  assert.deepEqual([...(await recordedUnits(run.job.q)).keys()].sort(), [u0, u2]);
  await forgetUnit(run.job.q, u0!);
  await forgetUnit(run.job.q, u2!);
  assert.equal((await recordedUnits(run.job.q)).size, 0);
  // Purged, not deleted: no delete marker per unit for the life of the job.
  assert.equal(await streamMessages(run.job.q, `KV_${run.job.q.names.unitsBucket}`), 0);
  assert.equal(await streamMessages(run.job.q, run.job.q.names.workStream), 3, 'forgetting a unit takes nothing off the queue');
});

test('a unit put on the queue again under its id by a resumed run is stored once, and only new units are reported', async (t) => {
  const job = `publish-${++jobs}`;
  const first = await openRun(t, 2, job);
  first.publisher.add(input('a'));
  first.publisher.add(input('b'));
  await first.publisher.idle();
  const unit = first.units[0]!;
  // The resumed run does not know whether its predecessor's publish reached the server: it puts the unit again.
  const second = await openRun(t, 2, job, first.job.secret);
  const recorded = (await recordedUnits(second.job.q)).get(unit.id);
  assert.deepEqual(recorded?.ids, ['a', 'b']);
  second.publisher.republish(unit.id, [input('a'), input('b')], false);
  await second.publisher.idle();
  assert.equal(second.units.length, 0, 'a resumed unit is tracked by the run, not reported as new');
  const info = await second.job.q.jsm.streams.info(second.job.q.names.workStream);
  assert.equal(info.state.messages, 1, 'the unit is on the queue once');
  assert.equal(info.state.last_seq, 1, 'the server dropped the second publish as a duplicate');
  second.publisher.add(input('c'));
  second.publisher.flush();
  await second.publisher.idle();
  assert.deepEqual(
    second.units.map((u) => u.id),
    [second.job.first],
    "the resumed run's own units have ids of its incarnation",
  );
  assert.ok(second.job.first > unit.id);
  assert.equal(await streamMessages(second.job.q, second.job.q.names.workStream), 2, 'and go on the queue');
});

test('a units-bucket entry that is not JSON is skipped for a resume, like one that does not fit the schema', async (t) => {
  const run = await openRun(t, 2);
  run.publisher.add(input('a'));
  run.publisher.flush();
  await run.publisher.idle();
  const enc = new TextEncoder();
  await run.job.q.units.put(unitKey(run.job.first + 7), enc.encode('{"ids": "not a list"}'));
  assert.deepEqual([...(await recordedUnits(run.job.q)).keys()], [run.job.first], 'an entry off the schema is skipped');
  await run.job.q.units.put(unitKey(run.job.first + 8), enc.encode('not json'));
  assert.deepEqual([...(await recordedUnits(run.job.q)).keys()], [run.job.first]);
});
