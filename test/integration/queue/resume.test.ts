/**
 * `run --queue` interrupted, then resumed with the same --job: killed with SIGKILL, or drained by
 * Ctrl-C across its gateways (exit 130). Either way the resumed run writes every input exactly once,
 * each the top-1 of onnxruntime-node, and no batch goes on the queue twice (each input is in one unit,
 * and the work stream stored each unit once).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { decodeUnit } from '../../../coordinator/queue/envelope.ts';
import { jobResources } from '../../../coordinator/queue/names.ts';
import { CACHE_DIR, waitForLog } from '../../support/coordinatorProcess.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { assertCompleteAndCorrect, assertNoDuplicates, readWholeRows } from '../../support/outputCheck.ts';
import { QueueProcesses, rowsIn, until } from '../../support/queueJob.ts';
import { referencePredictions, type ReferencePrediction } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 80;

let nats: NatsServer;
let nc: NatsConnection;
let tmp: string;
let data: string;
let files: { id: string; path: string }[];
let reference: Map<string, ReferencePrediction>;
const procs = new QueueProcesses(
  () => nats.url,
  () => data,
);

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-queue-resume-'));
  data = path.join(tmp, 'data');
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  files = await writeTestPngs(data, IMAGES, 64, 64, 31);
  reference = await referencePredictions(model.path, files);
});

after(async () => {
  await procs.killAll();
  await nc.close();
  await nats.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * Every unit published on the job's work subject, as a plain subscriber sees it (duplicates the
 * server drops included): unit id → its inputs.
 */
function watchPublishes(job: string): Map<string, string[]> {
  const units = new Map<string, string[]>();
  const sub = nc.subscribe(jobResources(job).workSubject);
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
  const info = await (await jetstreamManager(nc)).streams.info(jobResources(job).workStream);
  assert.equal(info.state.last_seq, units.size, 'the stream stored each unit once');
}

test('run SIGKILLed mid-job and resumed: every input once, top-1 equal to onnxruntime-node, no batch queued twice', async () => {
  const published = watchPublishes('killed');
  const out = path.join(tmp, 'killed.jsonl');
  const first = await procs.run('killed', out);
  const a = await procs.gateway('killed');
  const held = actorsHoldingAfter(4);
  await startActors(a.workerUrl, 2, held.options);
  await until('rows before the kill', async () => (await rowsIn(out)) >= 16);
  first.kill('SIGKILL');
  await first.exited;
  // The gateway keeps going with run gone: its answers wait on the queue for the resumed run.
  held.release();
  const second = await procs.run('killed', out, { resume: true });
  assert.equal(await second.exited, 0, second.stderr());
  await assertCompleteAndCorrect(out, files, reference);
  assert.match(second.stderr(), /resume: \d+ unit\(s\) of the previous run were on the queue or in flight/);
  await assertNoUnitQueuedTwice('killed', published);
  assert.equal(await a.exited, 0, 'the gateway served both runs and exits when the job is done');
});

test('Ctrl-C on run drains across gateways: no new batches, in-flight ones finish, exit 130; --resume completes', async () => {
  const published = watchPublishes('drained');
  const out = path.join(tmp, 'drained.jsonl');
  const first = await procs.run('drained', out);
  const a = await procs.gateway('drained');
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
  const second = await procs.run('drained', out, { resume: true });
  assert.equal(await second.exited, 0, second.stderr());
  await assertCompleteAndCorrect(out, files, reference);
  await assertNoUnitQueuedTwice('drained', published);
  assert.equal(await a.exited, 0);
});
