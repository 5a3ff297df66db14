/**
 * A standing pool end to end in this process: a real head (coordinator/head) on a loopback port,
 * simulated tabs speaking the real protocol (onnxruntime-node computing the rows), and jobs
 * submitted through the API's `on`, as `tabpool run --on` submits them. Jobs one after another and
 * at once on tabs that stay joined, cancel then resume, a head restart, and the tokens. (The same
 * with real browsers, and the head SIGKILLed: test/e2e/standingPool.spec.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Classifier, readImages } from '../../../coordinator/api/index.ts';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { POOL_PROTOCOL_VERSION, type JobRecord, type ToSubmitter } from '../../../shared/poolProtocol.ts';
import { PROTOCOL_VERSION, type JobSpec } from '../../../shared/protocol.ts';
import type { PoolStatus } from '../../../shared/poolStatus.ts';
import { ROUTES, TOKEN_PARAM } from '../../../shared/routes.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { scratch, startTestHead, submitJob } from '../../support/headHarness.ts';
import { rowsIn, until } from '../../support/queueJob.ts';
import { readDataset } from '../../support/parquetReader.ts';
import { readRows } from '../../support/reference.ts';
import { startActors, type SimulatedActorOptions } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

let dir: string;
let data: string;
let ids: string[];
let model: string;

before(async () => {
  dir = await scratch('pool');
  data = path.join(dir, 'data');
  ids = (await writeTestPngs(data, 24, 64, 64, 5)).map((f) => f.id).sort();
  model = (await ensureBuiltinModel(CACHE_DIR, 'tiny')).path;
});
after(() => fs.rm(dir, { recursive: true, force: true }));

async function api<T>(origin: string, route: string, token: string, method = 'GET'): Promise<{ status: number; body: T }> {
  const res = await fetch(`${origin}${route}?${TOKEN_PARAM}=${encodeURIComponent(token)}`, { method });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
}

/** Every input exactly once, and nothing else. */
async function exactlyOnce(out: string): Promise<void> {
  const rows = await readRows(out);
  assert.deepEqual(rows.map((r) => r.id).sort(), ids);
  for (const r of rows) assert.equal(r.error, null, `${r.id}: ${JSON.stringify(r.error)}`);
}

const real: SimulatedActorOptions = { mode: 'real' };

test('two tabs joined once serve jobs one after another and two at once; every row once; the tabs stay, idle, between jobs', async () => {
  const head = await startTestHead(path.join(dir, 'state-a'));
  const tabs = await startActors(head.workerUrl, 2, real);
  try {
    for (const name of ['one', 'two']) {
      const out = path.join(dir, `${name}.jsonl`);
      const summary = await submitJob(head, { data, out }, { model }).done;
      assert.equal(summary.status, 'done');
      await exactlyOnce(out);
    }
    const both = await Promise.all(
      ['three', 'four'].map((n) => submitJob(head, { data, out: path.join(dir, `${n}.jsonl`) }, { model }).done),
    );
    assert.deepEqual(
      both.map((s) => s.status),
      ['done', 'done'],
    );
    for (const n of ['three', 'four']) await exactlyOnce(path.join(dir, `${n}.jsonl`));
    const status = await api<PoolStatus>(head.origin, ROUTES.statusApi, head.submitToken);
    await until('both tabs idle again', () => head.status().tabs.every((t) => t.state === 'idle'));
    assert.equal(status.body.tabs.length, 2, 'the same two tabs, joined once');
    assert.deepEqual(
      status.body.jobs.map((j) => [j.status, j.done]),
      [
        ['done', 24],
        ['done', 24],
        ['done', 24],
        ['done', 24],
      ],
    );
    assert.ok(
      tabs.actors.every((a) => a.isOpen && a.problems.length === 0),
      JSON.stringify(tabs.actors.map((a) => a.problems)),
    );
  } finally {
    for (const a of tabs.actors) a.close();
    await head.close();
  }
});

test('the Node API submits too: readImages → mapBatches(Classifier, { on }) → writeParquet runs on the head', async () => {
  const head = await startTestHead(path.join(dir, 'state-api'));
  // Slow enough that the job is seen running.
  const tabs = await startActors(head.workerUrl, 2, { mode: 'real', imagesPerSecond: 8 });
  const out = path.join(dir, 'api.parquet');
  try {
    const job = readImages(data)
      .mapBatches(Classifier, { on: head.origin, submitToken: head.submitToken, model, ep: 'wasm', verify: 0, cacheDir: CACHE_DIR })
      .writeParquet(out, { overwrite: true });
    await job.started;
    await until("the head's tabs the job's actors, in the handle's status()", () =>
      (job.status()?.actors ?? []).some((a) => a.state === 'ready'),
    );
    assert.equal(head.status().jobs[0]?.status, 'running');
    const summary = await job.done;
    assert.equal(summary.status, 'done');
    assert.equal(summary.rows.written, ids.length);
    assert.deepEqual((await readDataset(out)).map((r) => r.id).sort(), ids);
  } finally {
    for (const a of tabs.actors) a.close();
    await head.close();
  }
});

test('tabpool cancel drains a job (its rows so far stay); the same run with --resume finishes it exactly', async () => {
  const head = await startTestHead(path.join(dir, 'state-b'));
  const tabs = await startActors(head.workerUrl, 2, { mode: 'real', imagesPerSecond: 8 });
  const out = path.join(dir, 'cancelled.jsonl');
  try {
    const job = submitJob(head, { data, out }, { model, batchSize: 2 });
    await until('some rows written', async () => (await rowsIn(out)) >= 4);
    const [record] = (await api<JobRecord[]>(head.origin, ROUTES.jobsApi, head.submitToken)).body;
    const cancelled = await api<JobRecord>(head.origin, `${ROUTES.jobsApi}/${record!.id}/cancel`, head.submitToken, 'POST');
    assert.equal(cancelled.status, 200);
    const summary = await job.done;
    assert.equal(summary.status, 'interrupted');
    const written = await rowsIn(out);
    assert.ok(written > 0 && written < ids.length, `${written} rows after the cancel`);
    await until('the job listed as cancelled', () => head.status().jobs[0]?.status === 'cancelled');
    const resumed = await submitJob(head, { data, out }, { model }, { resume: true }).done;
    assert.equal(resumed.status, 'done');
    await exactlyOnce(out);
  } finally {
    for (const a of tabs.actors) a.close();
    await head.close();
  }
});

test('the head restarted on the same --state loses nothing: the submitting process reconnects and the job finishes exactly', async () => {
  const state = path.join(dir, 'state-c');
  let head = await startTestHead(state);
  const { origin, submitToken, joinToken } = head;
  const out = path.join(dir, 'restarted.jsonl');
  await startActors(head.workerUrl, 2, { mode: 'real', imagesPerSecond: 8 });
  const job = submitJob(head, { data, out }, { model, batchSize: 2 });
  try {
    await until('some rows written', async () => (await rowsIn(out)) >= 4);
    await head.close();
    head = await startTestHead(state);
    assert.deepEqual([head.origin, head.submitToken, head.joinToken], [origin, submitToken, joinToken], 'same port, same tokens');
    await startActors(head.workerUrl, 2, real);
    const summary = await job.done;
    assert.equal(summary.status, 'done');
    await exactlyOnce(out);
    await until('the job done on the new head', () => head.status().jobs[0]?.status === 'done');
  } finally {
    await head.close();
  }
});

test("a job's submitting process that dies has its tabs back at once, and the job fails after --submitter-timeout, resumable", async () => {
  const head = await startTestHead(path.join(dir, 'state-d'), { submitterTimeoutMs: 500 });
  const tabs = await startActors(head.workerUrl, 1, { mode: 'instant' });
  // A submitting process, by hand: it submits, takes the tab it is lent, and dies (its socket cut, as SIGKILL cuts it).
  const ws = new WebSocket(`${head.origin.replace('http', 'ws')}${ROUTES.submitSocket}?${TOKEN_PARAM}=${head.submitToken}`);
  const spec: JobSpec = {
    files: [],
    actor: { kind: 'builtin', name: 'classifier' },
    config: {},
    inputs: 'image',
    preprocess: null,
    exifTranspose: false,
    outputs: {},
    eps: ['wasm'],
    numThreads: 1,
    allowSoftwareGpu: false,
    recycle: { afterBatches: null, aboveBytes: null },
  };
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as ToSubmitter;
    if (msg.type !== 'tab-text') return;
    const welcome = { type: 'welcome', protocol: PROTOCOL_VERSION, actorId: 'actor-1', status: 'admitted', reason: null, job: spec };
    ws.send(JSON.stringify({ type: 'tab-text', channel: msg.channel, text: JSON.stringify(welcome) }));
  });
  await new Promise((resolve) => ws.on('open', resolve));
  const placement = {
    pool: { min: 1, max: 1 },
    ep: 'wasm',
    allowSoftwareGpu: false,
    numGpus: null,
    numCpus: null,
    actorMemory: 1,
    weight: 1,
    priority: 0,
  };
  const submit = { type: 'submit', protocol: POOL_PROTOCOL_VERSION, jobId: 'jdying', secret: 's'.repeat(24), name: 'dying' };
  ws.send(JSON.stringify({ ...submit, grant: 'g'.repeat(24), files: [], placement, out: '/tmp/x.jsonl', total: 10 }));
  try {
    await until('the tab serving the job', () => head.status().tabs[0]?.state === 'ready');
    ws.terminate();
    await until('the tab idle again', () => head.status().tabs[0]?.state === 'idle' && head.status().tabs[0]?.job === null);
    assert.equal(head.status().jobs[0]!.status, 'disconnected');
    await until('the job failed', () => head.status().jobs[0]!.status === 'failed', 10_000);
    assert.match(head.status().jobs[0]!.message!, /--resume finishes it/);
  } finally {
    for (const a of tabs.actors) a.close();
    await head.close();
  }
});

test('the join token lets a tab serve and nothing else; a wrong submit token is refused; job files need their grant', async () => {
  const head = await startTestHead(path.join(dir, 'state-e'));
  try {
    for (const route of [ROUTES.jobsApi, ROUTES.statusApi, ROUTES.statusPage]) {
      const asTab = await api<{ error: { code: string; message: string } }>(head.origin, route, head.joinToken);
      assert.equal(asTab.status, 401, `${route} with the join token`);
      assert.equal(asTab.body?.error.code, 'SUBMIT_REFUSED');
      assert.match(asTab.body!.error.message, /join token lets a browser serve/);
      assert.equal((await api(head.origin, route, 'x'.repeat(24))).status, 401, `${route} with a wrong token`);
    }
    assert.equal((await api(head.origin, `${ROUTES.jobsApi}/j1/cancel`, head.joinToken, 'POST')).status, 401);
    const missing = await api<{ error: { code: string } }>(head.origin, `${ROUTES.jobsApi}/j1/cancel`, head.submitToken, 'POST');
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'JOB_NOT_FOUND']);
    const upgrade = (route: string, token: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${head.origin.replace('http', 'ws')}${route}?${TOKEN_PARAM}=${token}`);
        ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
      });
    assert.equal(await upgrade(ROUTES.submitSocket, head.joinToken), 401, 'a tab cannot open the submit socket');
    assert.equal(await upgrade(ROUTES.socket, head.submitToken), 401, 'the submit token is not a join token');
    assert.equal(await upgrade(ROUTES.socket, head.joinToken), 101);
    const upload = await fetch(`${head.origin}${ROUTES.filesApi}${'0'.repeat(64)}?${TOKEN_PARAM}=${head.joinToken}`, {
      method: 'PUT',
      body: 'x',
    });
    assert.equal(upload.status, 401, 'a tab cannot upload');
    const bad = await fetch(`${head.origin}${ROUTES.filesApi}${'0'.repeat(64)}?${TOKEN_PARAM}=${head.submitToken}`, {
      method: 'PUT',
      body: 'x',
    });
    assert.equal(bad.status, 400, 'an upload whose bytes are not its hash');
    const file = await fetch(`${head.origin}/model/${'0'.repeat(64)}?${TOKEN_PARAM}=${head.joinToken}`);
    assert.equal(file.status, 401, "the join token does not fetch a job's model");
  } finally {
    await head.close();
  }
});
