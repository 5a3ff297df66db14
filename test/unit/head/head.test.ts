/**
 * A standing pool's head on its own (coordinator/head/head.ts): fake tabs and fake submitting
 * processes drive it in this process, its state in a scratch --state folder. What is asserted is
 * what each side hears (tab-open, the relayed protocol, release, cancel, refused; welcome, idle),
 * the pool's status, and the job list the head keeps in --state.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Head, type SubmitLink } from '../../../coordinator/head/head.ts';
import { HeadState } from '../../../coordinator/head/headState.ts';
import { encodeBatchFrame } from '../../../shared/batchFrame.ts';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { channelFrame, POOL_PROTOCOL_VERSION, type Placement, type ToHead, type ToSubmitter } from '../../../shared/poolProtocol.ts';
import { PROTOCOL_VERSION, type JobSpec, type ToActorJson } from '../../../shared/protocol.ts';
import { FakeLink, hello, okItems, TINY_PNG } from '../../support/jobHarness.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-head-'));
after(() => fs.rm(dir, { recursive: true, force: true }));

const JOIN = { workerUrls: [], tlsFingerprint: null, heartbeatMs: 15_000 };
const SPEC: JobSpec = {
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
const READY = { type: 'ready' as const, ep: 'wasm' as const, probe: [], loadMs: 1, warmupMs: 0, modelFromCache: true, threads: 1 };

/** A submitting process as the head sees it: what it was sent, and how its socket was closed. */
class Submitter implements SubmitLink {
  readonly sent: ToSubmitter[] = [];
  closed: { code: number; reason: string } | null = null;
  feed!: ReturnType<Head['onSubmitter']>;
  send(msg: ToSubmitter): void {
    this.sent.push(msg);
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  of<T extends ToSubmitter['type']>(type: T): Extract<ToSubmitter, { type: T }>[] {
    return this.sent.filter((m): m is Extract<ToSubmitter, { type: T }> => m.type === type);
  }
  /** Its job's answer to the tab lent on `channel` (the job's actor host speaking): a welcome, admitted unless told. */
  welcome(channel: number, status: 'admitted' | 'standby' = 'admitted'): void {
    const reason = status === 'admitted' ? null : 'the pool is full (1 of max 1 actors)';
    const w = {
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      actorId: `actor-${channel}`,
      status,
      reason,
      job: status === 'admitted' ? SPEC : null,
    };
    this.feed.message({ type: 'tab-text', channel, text: JSON.stringify(w) });
  }
}

function submitMessage(
  jobId: string,
  o: { min?: number; max?: number; secret?: string; protocol?: number; files?: string[] } = {},
): ToHead {
  const placement: Placement = {
    pool: { min: o.min ?? 1, max: o.max ?? 4 },
    ep: 'wasm',
    allowSoftwareGpu: false,
    numGpus: null,
    numCpus: null,
    actorMemory: 2 ** 20,
    weight: 1,
    priority: 0,
  };
  return {
    type: 'submit',
    protocol: o.protocol ?? POOL_PROTOCOL_VERSION,
    jobId,
    secret: o.secret ?? `secret-of-${jobId}-0123456789`,
    name: `name-${jobId}`,
    grant: `grant-of-${jobId}-0123456789`,
    files: o.files ?? [],
    placement,
    out: `/tmp/${jobId}.jsonl`,
    total: 10,
  };
}

let pools = 0;
const heads: Head[] = [];
after(() => heads.forEach((h) => h.close()));

async function startPool() {
  const stateDir = path.join(dir, `state-${++pools}`);
  const state = await HeadState.open(stateDir, { joinToken: null, submitToken: null });
  const head = new Head(state, { submitterTimeoutMs: 60_000, log: () => undefined });
  heads.push(head);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const pool = {
    head,
    state,
    stateDir,
    settle,
    /** A tab joins the pool. */
    tab(hostId: string): FakeLink {
      const link = new FakeLink();
      head.onTabMessage(link, hello(hostId));
      return link;
    },
    /** A submitting process connects and sends `message` (its submit). */
    async connect(message: ToHead): Promise<Submitter> {
      const s = new Submitter();
      s.feed = head.onSubmitter(s);
      s.feed.message(message);
      await settle();
      return s;
    },
    /** Every tab lent to `s` taken by its job and ready; returns the channels. */
    async serve(s: Submitter, tabs: FakeLink[]): Promise<number[]> {
      const channels = s.of('tab-open').map((o) => o.channel);
      for (const ch of channels) s.welcome(ch);
      for (const t of tabs) if (t.json.at(-1)?.type === 'welcome') head.onTabMessage(t, READY);
      await settle();
      return channels;
    },
    tabs: () => head.status(JOIN).tabs,
    record: (jobId: string) => state.job(jobId)?.record,
  };
  return pool;
}

const last = (link: FakeLink): ToActorJson | undefined => link.json.at(-1);

test("lends an idle tab to a job: the job gets tab-open and the tab's hello, the tab the job's welcome; ready runs the job", async () => {
  const p = await startPool();
  const tab = p.tab('host-a');
  assert.deepEqual(tab.json[0], {
    type: 'welcome',
    protocol: PROTOCOL_VERSION,
    actorId: 'tab-1',
    status: 'idle',
    reason: 'idle, waiting for work',
    job: null,
    serving: null,
  });
  const job = await p.connect(submitMessage('j1'));
  assert.deepEqual(job.sent.slice(0, 2), [
    { type: 'accepted', jobId: 'j1', reattached: false },
    { type: 'tab-open', channel: 1, hostId: 'host-a', tabId: 'tab-1' },
  ]);
  const relayedHello = job.of('tab-text')[0]!;
  assert.deepEqual([relayedHello.channel, JSON.parse(relayedHello.text)], [1, hello('host-a')]);
  assert.equal(p.record('j1')!.status, 'queued');
  job.welcome(1);
  assert.deepEqual(last(tab), welcomeFor(1), 'the welcome, with the job the tab now serves');
  assert.deepEqual(
    p.tabs().map((t) => [t.state, t.job]),
    [['loading', 'j1']],
  );
  p.head.onTabMessage(tab, READY);
  assert.deepEqual(JSON.parse(job.of('tab-text').at(-1)!.text), READY, "the tab's ready, relayed to its job");
  assert.equal(p.record('j1')!.status, 'running');
  assert.deepEqual(
    p.tabs().map((t) => [t.state, t.job, t.modelFromCache]),
    [['ready', 'j1', true]],
  );
});

/** The welcome a tab hears on channel `ch` of job j1, with the job it now serves. */
function welcomeFor(ch: number) {
  return {
    type: 'welcome',
    protocol: PROTOCOL_VERSION,
    actorId: `actor-${ch}`,
    status: 'admitted',
    reason: null,
    job: SPEC,
    serving: 'name-j1 (j1)',
  };
}

test("a job's batch reaches its tab as framed, the answer comes back on its channel; a frame for a tab not lent is dropped", async () => {
  const p = await startPool();
  const tab = p.tab('host-a');
  const job = await p.connect(submitMessage('j1', { max: 1 }));
  const [ch] = await p.serve(job, [tab]);
  const other = await p.connect(submitMessage('j2'));
  other.feed.binary(channelFrame(ch!, encodeBatchFrame(99, ['x'], [TINY_PNG])));
  assert.equal(tab.batches.length, 0, "another job cannot reach this job's tab");
  job.feed.binary(channelFrame(ch!, encodeBatchFrame(7, ['a', 'b'], [TINY_PNG, TINY_PNG])));
  assert.deepEqual(
    tab.batches.map((b) => [b.batchId, b.ids]),
    [[7, ['a', 'b']]],
  );
  assert.equal(p.tabs()[0]!.inFlight, 1);
  const result = { type: 'result' as const, batchId: 7, items: okItems(2), timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } };
  p.head.onTabMessage(tab, result, JSON.stringify(result));
  const back = job.of('tab-text').at(-1)!;
  assert.deepEqual([back.channel, JSON.parse(back.text)], [ch, result]);
  assert.deepEqual(
    p.tabs().map((t) => [t.inFlight, t.batches, t.items]),
    [[0, 1, 2]],
  );
});

test('a job that finishes gives its tabs back idle, and its record (done, rows, errors) is saved in --state', async () => {
  const p = await startPool();
  const tab = p.tab('host-a');
  const job = await p.connect(submitMessage('j1'));
  await p.serve(job, [tab]);
  job.feed.message({ type: 'progress', total: 10, done: 10, errors: 1 });
  job.feed.message({ type: 'finished', status: 'done', message: '10 rows written' });
  await p.settle();
  const idle = last(tab);
  assert.ok(idle?.type === 'admission' && idle.status === 'idle' && idle.job === null, 'the page lets its actor go');
  assert.equal(idle.reason, 'idle, waiting for work (name-j1: done)');
  assert.deepEqual(
    p.tabs().map((t) => [t.state, t.job]),
    [['idle', null]],
  );
  await p.state.saveNow();
  const reread = await HeadState.open(p.stateDir, { joinToken: null, submitToken: null });
  const saved = reread.job('j1')!.record;
  assert.deepEqual([saved.status, saved.total, saved.done, saved.errors, saved.message], ['done', 10, 10, 1, '10 rows written']);
  assert.ok(saved.endedAt !== null);
  assert.deepEqual(reread.unfinished(), [], 'a restarted head waits for no finished job');
});

test('a second job below its share gets a tab the first hands back at a batch boundary; each ends up with one', async () => {
  const p = await startPool();
  const tabs = [p.tab('host-a'), p.tab('host-b')];
  const first = await p.connect(submitMessage('j1', { max: 2 }));
  assert.equal((await p.serve(first, tabs)).length, 2, 'alone, the first job takes both tabs');
  const second = await p.connect(submitMessage('j2', { max: 2 }));
  const [release] = first.of('release');
  assert.equal(release?.reason, 'job j2 is below its share');
  assert.equal(second.of('tab-open').length, 0, 'no tab is taken from a job mid-batch');
  assert.deepEqual(
    p
      .tabs()
      .map((t) => t.state)
      .sort(),
    ['ready', 'releasing'],
  );
  first.feed.message({ type: 'tab-close', channel: release!.channel, code: CLOSE.released, reason: 'handed back' });
  await p.settle();
  const [moved] = second.of('tab-open');
  assert.ok(moved, 'the tab handed back is lent to the second job');
  assert.deepEqual(
    p.head
      .status(JOIN)
      .jobs.map((j) => [j.id, j.actors, j.target])
      .sort(),
    [
      ['j1', 1, 1],
      ['j2', 1, 1],
    ],
  );
});

test('a submitting process that leaves has its tabs back at once; it reattaches with its secret, another secret is refused', async () => {
  const p = await startPool();
  const tab = p.tab('host-a');
  const job = await p.connect(submitMessage('j1'));
  await p.serve(job, [tab]);
  job.feed.closed();
  await p.settle();
  const idle = last(tab);
  assert.ok(idle?.type === 'admission' && idle.status === 'idle', 'the tab is back in the pool at once');
  assert.match(idle.reason ?? '', /name-j1: its submitting process disconnected/);
  assert.equal(p.record('j1')!.status, 'disconnected');
  assert.match(p.record('j1')!.message!, /its submitting process disconnected; waiting 60s for it to reconnect/);
  // As long as the real one: only the comparison itself can refuse it.
  const intruder = await p.connect(submitMessage('j1', { secret: 'secret-of-XX-0123456789' }));
  assert.deepEqual(intruder.sent, [{ type: 'refused', code: 'SUBMIT_REFUSED', message: 'job j1 belongs to another process' }]);
  assert.equal(intruder.closed?.code, CLOSE.normal);
  const back = await p.connect(submitMessage('j1'));
  assert.deepEqual(back.sent[0], { type: 'accepted', jobId: 'j1', reattached: true });
  assert.equal(p.record('j1')!.status, 'queued');
  assert.equal(back.of('tab-open').length, 1, 'the pool lends it a tab again');
});

test('cancel tells a connected job to drain; a job whose process is away is cancelled at once, resumable', async () => {
  const p = await startPool();
  const connected = await p.connect(submitMessage('j1'));
  const away = await p.connect(submitMessage('j2'));
  away.feed.closed();
  const stillRunning = p.head.cancel('j1');
  assert.deepEqual(connected.of('cancel'), [{ type: 'cancel', reason: 'cancelled with tabpool cancel' }]);
  assert.equal(stillRunning?.status, 'queued', 'it ends when its process has finished the batches out');
  assert.match(stillRunning!.message!, /cancel requested/);
  const cancelled = p.head.cancel('j2');
  assert.equal(cancelled?.status, 'cancelled');
  assert.ok(cancelled?.endedAt !== null);
  assert.match(cancelled!.message!, /--resume finishes it/);
  assert.equal(p.head.cancel('no-such-job'), null);
});

test('a submit is refused with its code: another pool protocol, a file the head lacks, a job that already ended', async () => {
  const p = await startPool();
  const refusal = async (msg: ToHead): Promise<ToSubmitter | undefined> => {
    const s = await p.connect(msg);
    assert.equal(s.closed?.code, CLOSE.normal);
    return s.sent[0];
  };
  const old = await refusal(submitMessage('j1', { protocol: POOL_PROTOCOL_VERSION + 1 }));
  assert.ok(old?.type === 'refused' && old.code === 'SUBMIT_REFUSED');
  assert.match(old.message, new RegExp(`speaks pool protocol ${POOL_PROTOCOL_VERSION + 1}, the head ${POOL_PROTOCOL_VERSION}`));
  const noFile = await refusal(submitMessage('j1', { files: ['ab'.repeat(32)] }));
  assert.ok(noFile?.type === 'refused' && noFile.code === 'SUBMIT_REFUSED');
  assert.match(noFile.message, /the head has no file (ab){32}; upload it first/);
  const done = await p.connect(submitMessage('j2'));
  done.feed.message({ type: 'finished', status: 'done', message: '' });
  const again = await refusal(submitMessage('j2'));
  assert.deepEqual(again, { type: 'refused', code: 'JOB_FAILED', message: 'job j2 already ended (done); run it again with --resume' });
  const early = new Submitter();
  assert.throws(() => p.head.onSubmitter(early).message({ type: 'progress', total: 1, done: 0, errors: 0 }), /progress before submit/);
});

test('a tab the job does not take goes back idle and is never offered to that job again; another tab is', async () => {
  const p = await startPool();
  const refusedTab = p.tab('host-a');
  const job = await p.connect(submitMessage('j1', { max: 1 }));
  job.welcome(1, 'standby');
  await p.settle();
  assert.deepEqual(job.of('tab-close'), [{ type: 'tab-close', channel: 1, code: CLOSE.normal, reason: 'not taken by the job' }]);
  assert.match((last(refusedTab) as { reason: string }).reason, /name-j1 \(j1\) did not take it: the pool is full/);
  assert.equal(job.of('tab-open').length, 1, 'not offered again');
  p.tab('host-b');
  await p.settle();
  assert.deepEqual(
    job.of('tab-open').map((o) => o.tabId),
    ['tab-1', 'tab-2'],
  );
});

test('a tab its job closes for a bad result is closed by the head too; a lent tab that leaves is reported on its channel', async () => {
  const p = await startPool();
  const tabs = [p.tab('host-a'), p.tab('host-b')];
  const job = await p.connect(submitMessage('j1', { max: 2 }));
  const [liarChannel, otherChannel] = await p.serve(job, tabs);
  job.feed.message({ type: 'tab-close', channel: liarChannel!, code: CLOSE.badResult, reason: 'bad result: 1 items for a batch of 2' });
  assert.deepEqual(tabs[0]!.closed, { code: CLOSE.badResult, reason: 'bad result: 1 items for a batch of 2' });
  p.head.onTabClose(tabs[0]!, CLOSE.badResult, 'bad result');
  p.head.onTabClose(tabs[1]!, CLOSE.goingAway, 'tab closed');
  assert.deepEqual(
    job.of('tab-close').filter((c) => c.channel === otherChannel),
    [{ type: 'tab-close', channel: otherChannel, code: CLOSE.goingAway, reason: 'tab closed' }],
  );
  assert.deepEqual(p.tabs(), []);
});
