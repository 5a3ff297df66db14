/**
 * `run`'s collector of the gateways' results, in-process against a real nats-server: the job's
 * streams and buckets made as `run --queue` makes them, units put on the queue by the product's
 * publisher, results published as a gateway publishes them, and the rows going to a real JobOutput
 * over an in-memory sink the test can hold. Each input gets one row; a result is acked only once its
 * rows are written, so a run killed before gets it again; a result that is not this job's, or that
 * does not answer its unit, is refused with a log line (its inputs computed again).
 */
import assert from 'node:assert/strict';
import type { ConsumerInfo } from '@nats-io/jetstream';
import { after, before, test, type TestContext } from 'node:test';
import { withoutBytes, type InputItem } from '../../../coordinator/io/inputItem.ts';
import type { OutputRow, RowSink } from '../../../coordinator/io/outputRow.ts';
import type { RowRules } from '../../../coordinator/host/resultCheck.ts';
import { JobOutput } from '../../../coordinator/output/jobOutput.ts';
import { Collector } from '../../../coordinator/queue/collector.ts';
import { newSecret } from '../../../coordinator/queue/jobStore.ts';
import type { UnitResult } from '../../../coordinator/queue/envelope.ts';
import { Publisher, recordedUnits } from '../../../coordinator/queue/publisher.ts';
import { parseOutputs } from '../../../shared/columns.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { openTestJob, publishResult, streamMessages, waitFor, type TestJob } from '../../support/queueTestJob.ts';

const CLASSES = 10;
const parsed = parseOutputs({ class: 'int32' });
if (!parsed.ok) throw new Error(parsed.error);
/** One int32 column, a class of a 10-class model. */
const RULES: RowRules = {
  columns: parsed.columns,
  check: (row) => {
    const c = row.class as number;
    return c >= 0 && c < CLASSES ? null : `class ${c} is not one of the model's ${CLASSES} classes`;
  },
};

let nats: NatsServer;
let jobs = 0;

before(async () => {
  nats = await startNats();
});

after(async () => {
  await nats.stop();
});

/** Rows kept in memory; `hold()` keeps every write from finishing until released (or forever: a run killed mid-write). */
class HeldSink implements RowSink {
  readonly written = new Set<string>();
  readonly rows: OutputRow[] = [];
  /** Writes begun (finished or not). */
  writes = 0;
  private gate: Promise<void> | null = null;
  constructor(private readonly onDurable: (ids: string[]) => void) {}

  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((r) => (release = r));
    return () => {
      this.gate = null;
      release();
    };
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    this.writes++;
    if (this.gate) await this.gate;
    this.rows.push(...rows);
    // As `run` does: the collector hears of rows once they are durable.
    this.onDurable(rows.map((r) => r.id));
  }

  async flushed(): Promise<void> {}

  ids(): string[] {
    return this.rows.map((r) => r.id).sort();
  }
}

interface Harness {
  job: TestJob;
  collector: Collector;
  sink: HeldSink;
  logs: string[];
  /** What the collector asked to compute again. */
  redone: InputItem[][];
  /** Puts a unit of these inputs on the queue, as `run` does; its id. */
  queue(ids: string[]): number;
  /** Resolves once every unit queued so far is recorded and on the work stream. */
  queued(): Promise<void>;
}

/**
 * A `run` of the job (a fresh one unless `job` names one; `secret`: a resumed job's), its collector and
 * publisher wired as queueRun wires them; the collector collecting unless `start` is false.
 */
async function openRun(t: TestContext, o: { job?: string; secret?: string; start?: boolean } = {}): Promise<Harness> {
  const tj = await openTestJob(nats.url, o.job ?? `collect-${++jobs}`);
  tj.secret = o.secret ?? tj.secret;
  const logs: string[] = [];
  const redone: InputItem[][] = [];
  const sink = new HeldSink((ids) => collector.written(ids));
  const output = new JobOutput(sink, 'memory', {
    progress: () => undefined,
    written: () => undefined,
    fail: (err) => logs.push(`FAIL ${err.message}`),
    log: (l) => logs.push(l),
    now: () => Date.now(),
  });
  const collector: Collector = new Collector(
    tj.q,
    tj.secret,
    { rules: RULES, output, log: (l) => logs.push(l), redo: (items) => redone.push(items) },
    tj.first,
  );
  let last = -1;
  const publisher = new Publisher(tj.q, tj.secret, 64, tj.first, (u) => {
    last = u.id;
    collector.track(u.id, u.items.map(withoutBytes));
  });
  if (o.start !== false) await collector.start();
  t.after(async () => {
    collector.stop();
    await publisher.idle().catch(() => undefined);
    await tj.q.nc.close().catch(() => undefined);
  });
  const queue = (ids: string[]): number => {
    publisher.publish(ids.map((id, n) => ({ id, source: `/data/${id}.png`, bytes: new Uint8Array([n, 1, 2]) })));
    return last;
  };
  return { job: tj, collector, sink, logs, redone, queue, queued: () => publisher.idle() };
}

function prediction(cls = 3): ItemResult {
  return { ok: true, row: { class: cls } };
}

/** A gateway's answer to unit `unit`: each id a prediction of `actor`. */
function result(unit: number, ids: string[], cls = 3, actor = 'gw-a/actor-1'): UnitResult {
  return {
    v: 1,
    unit,
    gateway: 'gw-a',
    answers: ids.map((id) => ({ id, actor, host: 'host-a', ep: 'wasm', result: prediction(cls) })),
  };
}

async function resultsHeld(h: Harness): Promise<number> {
  return streamMessages(h.job.q, h.job.q.names.resultsStream);
}

async function resultsConsumer(h: Harness): Promise<ConsumerInfo> {
  return h.job.q.jsm.consumers.info(h.job.q.names.resultsStream, h.job.q.names.resultsConsumer);
}

test("a unit's rows are each written once, and its result is acked only after they are written", async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b', 'c']);
  assert.equal(h.collector.pending, 1);
  const release = h.sink.hold();
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c']));
  await waitFor('the rows to be handed to the output', () => h.sink.writes === 1);
  assert.equal(h.collector.answeredPending, 1, 'the unit is answered');
  assert.equal(h.collector.pending, 1, 'but not done while its rows are unwritten');
  assert.equal((await resultsConsumer(h)).num_ack_pending, 1, 'the result is not acked while its rows are unwritten');
  assert.equal(await resultsHeld(h), 1, 'the results stream still holds it');
  release();
  await waitFor('the result to be acked (gone from the results stream)', async () => (await resultsHeld(h)) === 0);
  assert.deepEqual(h.sink.ids(), ['a', 'b', 'c']);
  for (const r of h.sink.rows) assert.deepEqual(r, { id: r.id, class: 3, error: null });
  assert.equal(h.collector.pending, 0);
  assert.deepEqual(h.logs, []);
});

test('a run killed before its rows are written gets the same result again when resumed, and writes each row once', async (t) => {
  const first = await openRun(t, { job: 'collect-killed' });
  const unit = first.queue(['a', 'b', 'c']);
  await first.queued();
  first.sink.hold(); // never released: the write is in progress when the run dies
  await publishResult(first.job.q, first.job.secret, result(unit, ['a', 'b', 'c']));
  await waitFor('the rows to be handed to the output', () => first.sink.writes === 1);
  first.collector.stop();
  await first.job.q.nc.close();
  assert.equal(first.sink.rows.length, 0);

  // Resumed as queueRun.resume() does: the recorded unit is tracked again under its id.
  const second = await openRun(t, { job: 'collect-killed', secret: first.job.secret, start: false });
  const recorded = await recordedUnits(second.job.q);
  assert.deepEqual([...recorded.keys()], [unit], 'the unit is still recorded');
  const entry = recorded.get(unit)!;
  second.collector.track(
    unit,
    entry.ids.map((id, n) => ({ id, source: entry.sources[n]! })),
  );
  await second.collector.start();
  // JetStream redelivers an unacked result after the results consumer's ack wait (10 s).
  await waitFor('the result to be redelivered and its rows written', () => second.sink.rows.length === 3, 20_000);
  await waitFor('the result to be acked', async () => (await resultsHeld(second)) === 0);
  assert.deepEqual(second.sink.ids(), ['a', 'b', 'c']);
  assert.equal(second.collector.pending, 0);
  assert.deepEqual(second.logs, []);
});

test("a result not signed with this job's secret, or for a unit it never queued, is refused with a log line", async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b', 'c']);
  await publishResult(h.job.q, newSecret(), result(unit, ['a', 'b', 'c']));
  await waitFor('the foreign result to be refused', () => h.logs.length === 1);
  assert.match(h.logs[0]!, /refused a message on tabpool\.collect-\d+\.results .*: not signed with this job's secret; it is dropped/);
  await publishResult(h.job.q, h.job.secret, result(unit + 99, ['a', 'b', 'c']));
  await waitFor('the stranger unit to be refused', () => h.logs.length === 2);
  assert.match(h.logs[1]!, new RegExp(`result for unit ${unit + 99}, which this job did not put on the queue`));
  assert.equal(h.sink.writes, 0, 'no row was written');
  assert.deepEqual(h.redone, [], 'nothing is computed again: its own answer is still to come');
  assert.equal(h.collector.pending, 1);

  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c']));
  await waitFor("the unit's own result to be written", () => h.sink.rows.length === 3);
  assert.deepEqual(h.sink.ids(), ['a', 'b', 'c']);
});

test('a refused result is dropped for good: the results consumer does not deliver it again', async (t) => {
  const h = await openRun(t);
  await publishResult(h.job.q, newSecret(), result(h.job.first, ['a']));
  await waitFor('the foreign result to be refused', () => h.logs.length === 1);
  await waitFor('the refused result to be terminated', async () => (await resultsConsumer(h)).num_ack_pending === 0, 2_000);
});

test('a result with a missing, doubled or foreign answer, or a class outside the model, is refused and its inputs redone', async (t) => {
  const h = await openRun(t);
  const cases: ((unit: number, [a, b, c]: string[]) => { r: UnitResult; why: string })[] = [
    (u, [a, b, c]) => ({ r: result(u, [a!, b!]), why: `answers 2 of the unit's 3 inputs ("${c}" is missing)` }),
    (u, [a, b, c]) => ({ r: result(u, [a!, b!, c!, a!]), why: `answers "${a}" twice` }),
    (u, [a, b, c]) => ({ r: result(u, [a!, b!, c!, 'z']), why: `answers "z", which is not one of the unit's inputs` }),
    (u, ids) => ({ r: result(u, ids, CLASSES), why: "items.0: class 10 is not one of the model's 10 classes" }),
  ];
  for (const [n, answer] of cases.entries()) {
    const ids = ['a', 'b', 'c'].map((x) => `${x}${n}`);
    const unit = h.queue(ids);
    const { r, why } = answer(unit, ids);
    await publishResult(h.job.q, h.job.secret, r);
    await waitFor(`result ${n} to be refused`, () => h.redone.length === n + 1);
    const line = h.logs[n]!;
    assert.ok(line.startsWith('refused a message on '), line);
    assert.ok(line.includes(`: result for unit ${unit} from gateway gw-a: ${why}; it is dropped`), line);
    assert.deepEqual(
      h.redone[n]!.map((i) => i.id),
      ids,
      'every input of the unit is computed again',
    );
    assert.equal(h.collector.pending, 0, 'the refused unit waits no more: its inputs are in a new unit');
  }
  assert.equal(h.logs.length, cases.length);
  assert.equal(h.sink.writes, 0, 'no row of a refused result was written');
});

test('a duplicate result is acked and ignored, whether it comes while the rows are written or after', async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b', 'c']);
  const release = h.sink.hold();
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c']));
  await waitFor('the rows to be handed to the output', () => h.sink.writes === 1);
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c'], 7));
  await waitFor('the duplicate to be acked while the first is held', async () => (await resultsHeld(h)) === 1);
  release();
  await waitFor('the result to be acked', async () => (await resultsHeld(h)) === 0);
  // Computed twice after a redelivery, answered after the unit is done; and a unit of an earlier run, written before.
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c'], 7));
  await publishResult(h.job.q, h.job.secret, result(h.job.first - 1, ['x']));
  await waitFor('the late duplicates to be acked', async () => (await resultsHeld(h)) === 0);
  assert.equal((await resultsConsumer(h)).delivered.stream_seq, 4, 'every result was delivered');
  assert.deepEqual(h.logs, [], 'a duplicate is no stranger: nothing refused');
  assert.equal(h.sink.writes, 1);
  assert.deepEqual(
    h.sink.rows.map((r) => [r.id, (r as { class?: unknown }).class]),
    [
      ['a', 3],
      ['b', 3],
      ['c', 3],
    ],
    'each input has the first answer, once',
  );
});

test('rows written before a resume are not written again, and the unit is acked once its other rows are', async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b', 'c']);
  // As queueRun.resume() does for a recorded unit whose row for `a` is already in the output.
  h.collector.written(['a']);
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b', 'c']));
  await waitFor('the result to be acked', async () => (await resultsHeld(h)) === 0);
  assert.deepEqual(h.sink.ids(), ['b', 'c']);
  assert.equal(h.collector.pending, 0);

  // A result that answers only the inputs still open is whole.
  const next = h.queue(['d', 'e']);
  h.collector.written(['d']);
  await publishResult(h.job.q, h.job.secret, result(next, ['e']));
  await waitFor('the second result to be acked', async () => (await resultsHeld(h)) === 0);
  assert.deepEqual(h.sink.ids(), ['b', 'c', 'e']);
  assert.deepEqual(h.logs, []);
});

test("a unit stays in the job's units bucket until its rows are written, then is forgotten", async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b']);
  await waitFor('the unit to be recorded', async () => (await recordedUnits(h.job.q)).has(unit));
  const release = h.sink.hold();
  await publishResult(h.job.q, h.job.secret, result(unit, ['a', 'b']));
  await waitFor('the rows to be handed to the output', () => h.sink.writes === 1);
  assert.ok((await recordedUnits(h.job.q)).has(unit), 'answered but unwritten: still recorded for a resume');
  release();
  await waitFor('the unit to be forgotten', async () => (await recordedUnits(h.job.q)).size === 0);
  assert.deepEqual(h.sink.ids(), ['a', 'b']);
});

test("the gateway's own error rows are written for their inputs, and each actor's answers are counted", async (t) => {
  const h = await openRun(t);
  const unit = h.queue(['a', 'b', 'c', 'd']);
  const r = result(unit, ['a', 'b', 'c']);
  r.answers[2]!.actor = 'gw-b/actor-2';
  r.answers.push({
    id: 'd',
    actor: null,
    host: 'gw-a',
    ep: null,
    result: { ok: false, code: 'RETRIES_EXHAUSTED', message: 'failed on 3 actors' },
  });
  await publishResult(h.job.q, h.job.secret, r);
  await waitFor('the result to be acked', async () => (await resultsHeld(h)) === 0);
  assert.deepEqual(h.sink.ids(), ['a', 'b', 'c', 'd']);
  const d = h.sink.rows.find((row) => row.id === 'd')!;
  assert.deepEqual(d.error, { code: 'RETRIES_EXHAUSTED', message: 'failed on 3 actors' });
  assert.deepEqual(
    [...h.collector.perActor].map(([actor, p]) => [actor, p.units, p.images]),
    [
      ['gw-a/actor-1', 1, 2],
      ['gw-b/actor-2', 1, 1],
    ],
  );
});
