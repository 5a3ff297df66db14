/**
 * The four ways a job runs open and close through the one interface (modes/jobMode.ts), in this
 * process, with the servers they need real and on loopback (a standing pool's head, nats-server):
 * `open()` gives the job, `started` settles with where its tabs join, and `close()` undoes what the
 * mode opened (the server stops answering, the head lists the job as ended, NATS lets it go). No tab
 * joins: what is proved is the mode's own wiring, the same for every mode.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkedOptions, type MapBatchesOptions } from '../../../coordinator/api/apiOptions.ts';
import { prepareJob, type PreparedJob } from '../../../coordinator/api/prepareJob.ts';
import type { RunningHead } from '../../../coordinator/head/startHead.ts';
import { gatewayMode } from '../../../coordinator/modes/gatewayMode.ts';
import { inProcessMode } from '../../../coordinator/modes/inProcessMode.ts';
import type { JobMode, StartedJob } from '../../../coordinator/modes/jobMode.ts';
import { lentByHead } from '../../../coordinator/modes/lentByHead.ts';
import { queueMode } from '../../../coordinator/modes/queueMode.ts';
import { storedFiles } from '../../../coordinator/actor/tabSpec.ts';
import { connectQueue, readSpec } from '../../../coordinator/queue/jobStore.ts';
import type { JobRecord } from '../../../shared/poolProtocol.ts';
import { ROUTES, TOKEN_PARAM } from '../../../shared/routes.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { scratch, startTestHead } from '../../support/headHarness.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { writeTestPngs } from '../../support/testImages.ts';

let dir: string;
let head: RunningHead;
let nats: NatsServer;
const prepared: PreparedJob[] = [];
const logs: string[] = [];
const events = { log: (line: string) => void logs.push(line), progress: () => undefined };

before(async () => {
  dir = await scratch('modes');
  await writeTestPngs(path.join(dir, 'data'), 4, 32, 32);
  head = await startTestHead(path.join(dir, 'head'));
  nats = await startNats();
});

after(async () => {
  for (const p of prepared) await p.close();
  await head.close();
  await nats.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

/** A job planned as `run` plans it (the tiny model over four images), with these options. */
async function prepare(name: string, options: MapBatchesOptions): Promise<PreparedJob> {
  const o = checkedOptions(
    { data: path.join(dir, 'data'), actor: null, out: path.join(dir, `${name}.jsonl`) },
    { model: 'resnet18-tiny', ep: 'wasm', verify: 0, cacheDir: CACHE_DIR, ...options },
    { overwrite: true },
  );
  const p = await prepareJob(o, events);
  prepared.push(p);
  return p;
}

const dirs = (p: PreparedJob) => ({ cacheDir: p.cacheDir, webRoot: p.webRoot });

async function headRecord(name: RegExp): Promise<JobRecord | undefined> {
  const res = await fetch(`${head.origin}${ROUTES.jobsApi}?${TOKEN_PARAM}=${head.submitToken}`);
  return ((await res.json()) as JobRecord[]).find((r) => name.test(r.name));
}

/** Opens the mode, waits until tabs can join, closes it: what each mode must do through the one interface. */
async function openAndClose<J>(mode: JobMode<J>, check: (started: StartedJob) => Promise<void>, closed: () => Promise<void>) {
  const opened = await mode.open();
  assert.ok(opened.job, `${mode.describe}: a job`);
  await check(await opened.started);
  await opened.close({ status: 'cancelled', message: 'closed by the test' });
  await closed();
}

test('in this process: tabs are served here; closing the mode stops the server', async () => {
  const p = await prepare('local', {});
  let workerUrl = '';
  await openAndClose(
    inProcessMode(p.context, dirs(p)),
    async (s) => {
      workerUrl = s.workerUrl;
      assert.match(s.workerUrl, /^http:\/\/127\.0\.0\.1:\d+\/worker\/\?token=/);
      assert.ok(s.banner.some((l) => l.startsWith('status page: ')));
      assert.equal((await fetch(s.workerUrl)).status, 200);
    },
    async () => assert.rejects(fetch(workerUrl), /fetch failed/),
  );
});

test('on a standing pool: the head lends the tabs and lists the job; closing the mode tells the head it ended', async () => {
  const p = await prepare('on', { on: head.origin, submitToken: head.submitToken });
  await openAndClose(
    inProcessMode(p.context, dirs(p)),
    async (s) => {
      assert.equal(s.workerUrl, `${head.origin}${ROUTES.workerPage}`);
      assert.match(s.notes.join('\n'), /on the standing pool at .* as job j[0-9a-f]+/);
      assert.equal((await headRecord(/^built-in classifier on resnet18-tiny$/))?.status, 'queued');
    },
    async () => {
      const record = await headRecord(/^built-in classifier on resnet18-tiny$/);
      assert.equal(record?.status, 'cancelled');
      assert.equal(record?.message, 'closed by the test');
    },
  );
});

test('on a queue: the job is published on NATS and this process serves tabs too; closing the mode lets both go', async () => {
  const p = await prepare('queue', { queue: nats.url, job: 'modes-queue' });
  let workerUrl = '';
  await openAndClose(
    queueMode(p.context, dirs(p)),
    async (s) => {
      workerUrl = s.workerUrl;
      assert.match(s.notes.join('\n'), /queue: job modes-queue on .* \(new\)/);
      const q = await connectQueue([nats.url], 'modes-queue');
      assert.equal((await readSpec(q))?.modelName, 'built-in classifier on resnet18-tiny');
      await q.nc.close();
    },
    async () => assert.rejects(fetch(workerUrl), /fetch failed/),
  );
});

test("a queue's job served by a gateway whose tabs a head lends (serve --queue): it opens, the head lists it, it closes", async () => {
  const mode = gatewayMode({
    servers: [nats.url],
    job: 'modes-queue',
    cacheDir: CACHE_DIR,
    waitMs: 5000,
    heartbeatMs: 15_000,
    log: (line) => logs.push(line),
    tabs: (content, spec) =>
      lentByHead(
        { origin: head.origin, submitToken: head.submitToken },
        {
          name: `queue job modes-queue: ${spec.modelName}`,
          placement: { ...spec, weight: 1, priority: 0 },
          out: 'queue',
          total: null,
          files: storedFiles(content),
        },
        (line) => logs.push(line),
      ),
  });
  await openAndClose(
    mode,
    async (s) => {
      assert.equal(s.workerUrl, `${head.origin}${ROUTES.workerPage}`);
      assert.equal((await headRecord(/^queue job modes-queue/))?.status, 'queued');
    },
    async () => assert.equal((await headRecord(/^queue job modes-queue/))?.status, 'cancelled'),
  );
});
