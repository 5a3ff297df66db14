/**
 * `run --queue` interrupted, then resumed with the same --job: killed with SIGKILL, or drained by
 * Ctrl-C across its gateways (exit 130). Either way the resumed run writes every input exactly once,
 * each the top-1 of onnxruntime-node, and no batch goes on the queue twice (each input is in one unit,
 * and the work stream stored each unit once).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeUnit } from '../../../coordinator/queue/envelope.ts';
import { jobResources } from '../../../coordinator/queue/names.ts';
import { waitForLog } from '../../support/coordinatorProcess.ts';
import { assertCompleteAndCorrect, assertNoDuplicates, readWholeRows } from '../../support/outputCheck.ts';
import { queueSuite, rowsIn, until } from '../../support/queueJob.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';

const IMAGES = 80;

const q = queueSuite('queue-resume', IMAGES, 31);
let nc: NatsConnection | null = null;
/** A client of the suite's server, for watching the work stream (made on first use: the server starts in the suite's hook). */
const natsClient = async (): Promise<NatsConnection> => (nc ??= await connect({ servers: q.nats.url }));

after(async () => {
  await nc?.close();
});

/**
 * Every unit published on the job's work subject, as a plain subscriber sees it (duplicates the
 * server drops included): unit id → its inputs.
 */
async function watchPublishes(job: string): Promise<Map<string, string[]>> {
  const units = new Map<string, string[]>();
  const sub = (await natsClient()).subscribe(jobResources(job).workSubject);
  void (async () => {
    for await (const m of sub) {
      const d = decodeUnit(m.data);
      if (d.ok) units.set(m.headers?.get('Nats-Msg-Id') ?? `seq?${units.size}`, d.value.header.ids);
    }
  })();
  return units;
}

/** Each input went on the queue in one unit only, and the work stream stored each unit once. */
async function assertNoUnitQueuedTwice(job: string, units: Map<string, string[]>): Promise<void> {
  const unitOf = new Map<string, string>();
  for (const [unit, ids] of units) {
    for (const id of ids) {
      assert.ok(!unitOf.has(id) || unitOf.get(id) === unit, `${id} was queued in ${unitOf.get(id)} and again in ${unit}`);
      unitOf.set(id, unit);
    }
  }
  assert.equal(unitOf.size, IMAGES, 'every input went on the queue');
  const info = await (await jetstreamManager(await natsClient())).streams.info(jobResources(job).workStream);
  assert.equal(info.state.last_seq, units.size, 'the stream stored each unit once');
}

test('run SIGKILLed mid-job and resumed: every input once, top-1 equal to onnxruntime-node, no batch queued twice', async () => {
  const published = await watchPublishes('killed');
  const out = path.join(q.tmp, 'killed.jsonl');
  const first = await q.procs.run('killed', out);
  const a = await q.procs.gateway('killed');
  const held = actorsHoldingAfter(4);
  await startActors(a.workerUrl, 2, held.options);
  await until('rows before the kill', async () => (await rowsIn(out)) >= 16);
  first.kill('SIGKILL');
  await first.exited;
  // The gateway keeps going with run gone: its answers wait on the queue for the resumed run.
  held.release();
  const second = await q.procs.run('killed', out, { resume: true });
  assert.equal(await second.exited, 0, second.stderr());
  await assertCompleteAndCorrect(out, q.files, q.reference);
  assert.match(second.stderr(), /resume: \d+ unit\(s\) of the previous run were on the queue or in flight/);
  await assertNoUnitQueuedTwice('killed', published);
  assert.equal(await a.exited, 0, 'the gateway served both runs and exits when the job is done');
});

test('Ctrl-C on run drains across gateways: no new batches, in-flight ones finish, exit 130; --resume completes', async () => {
  const published = await watchPublishes('drained');
  const out = path.join(q.tmp, 'drained.jsonl');
  const first = await q.procs.run('drained', out);
  const a = await q.procs.gateway('drained');
  const held = actorsHoldingAfter(4);
  await startActors(a.workerUrl, 2, held.options);
  await until('rows before Ctrl-C', async () => (await rowsIn(out)) >= 16);
  first.kill('SIGINT');
  await waitForLog(first, /interrupt: draining/);
  held.release();
  assert.equal(await first.exited, 130, first.stderr());
  const drained = await readWholeRows(out);
  assertNoDuplicates(drained);
  assert.ok(drained.length > 16, `the batches in flight at Ctrl-C finished (${drained.length} rows)`);
  assert.ok(drained.length < IMAGES, 'no new batches after Ctrl-C');
  const second = await q.procs.run('drained', out, { resume: true });
  assert.equal(await second.exited, 0, second.stderr());
  await assertCompleteAndCorrect(out, q.files, q.reference);
  await assertNoUnitQueuedTwice('drained', published);
  assert.equal(await a.exited, 0);
});
