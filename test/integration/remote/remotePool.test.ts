/**
 * A `run --on` process's side of a standing pool (coordinator/remote/remotePool.ts) against a fake
 * head on a loopback port in this process: the head's HTTP file routes and its submit socket,
 * scripted by each test. What is asserted is what the head receives (uploads, the submit, each
 * channel's messages and frames), what the job's actor host is told (links opened, messages,
 * closes, retirements) and the errors the job fails with.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { RemotePool, type RemoteJob, type RemoteTarget } from '../../../coordinator/remote/remotePool.ts';
import type { ActorLink } from '../../../coordinator/pool/actor.ts';
import { encodeBatchFrame } from '../../../shared/batchFrame.ts';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { TabpoolError } from '../../../shared/errors.ts';
import {
  parseToHead,
  POOL_PROTOCOL_VERSION,
  splitChannelFrame,
  type SubmitMessage,
  type ToHead,
  type ToSubmitter,
} from '../../../shared/poolProtocol.ts';
import type { ToCoordinator } from '../../../shared/protocol.ts';
import { ROUTES, TOKEN_PARAM } from '../../../shared/routes.ts';
import { hello, okItems, TINY_PNG } from '../../support/jobHarness.ts';

const TOKEN = 'submit-token-0123456789';
const OPTS = { timeout: 15_000 };
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-remote-'));
after(() => fs.rm(dir, { recursive: true, force: true }));

/** Everything seen so far, and a promise for the first that matches (seen already, or still to come). */
class Seen<T> {
  readonly all: T[] = [];
  private readonly waiting: { match: (t: T) => boolean; resolve: (t: T) => void }[] = [];
  push(t: T): void {
    this.all.push(t);
    for (const w of [...this.waiting]) if (w.match(t)) this.waiting.splice(this.waiting.indexOf(w), 1) && w.resolve(t);
  }
  find(match: (t: T) => boolean = () => true): Promise<T> {
    const hit = this.all.find(match);
    return hit !== undefined ? Promise.resolve(hit) : new Promise((resolve) => this.waiting.push({ match, resolve }));
  }
}

/** A head as a submitting process sees it: HEAD/PUT of files by sha256 and the submit socket, both behind the submit token. */
class FakeHead {
  /** `HEAD sha`, `PUT sha bytes`, in order. */
  readonly requests: string[] = [];
  readonly has = new Set<string>();
  readonly submits = new Seen<{ ws: WebSocket; submit: SubmitMessage }>();
  readonly messages = new Seen<Exclude<ToHead, SubmitMessage>>();
  readonly frames = new Seen<{ channel: number; frame: Uint8Array }>();
  /** Answers each submit with accepted (reattached for a job id seen before); off, the test answers. */
  autoAccept = true;
  private readonly server = http.createServer((req, res) => this.http(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly known = new Set<string>();
  origin = '';

  /** Listening on a loopback port; closed when test `t` ends, however it ends. */
  static async start(t: TestContext): Promise<FakeHead> {
    const h = new FakeHead();
    t.after(() => h.close());
    h.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== ROUTES.submitSocket || url.searchParams.get(TOKEN_PARAM) !== TOKEN) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      h.wss.handleUpgrade(req, socket, head, (ws) => h.connected(ws));
    });
    await new Promise<void>((resolve) => h.server.listen(0, '127.0.0.1', resolve));
    h.origin = `http://127.0.0.1:${(h.server.address() as AddressInfo).port}`;
    return h;
  }

  private http(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const sha = url.pathname.slice(ROUTES.filesApi.length);
    if (url.searchParams.get(TOKEN_PARAM) !== TOKEN) return void res.writeHead(401).end();
    if (req.method === 'HEAD') {
      this.requests.push(`HEAD ${sha}`);
      return void res.writeHead(this.has.has(sha) ? 200 : 404).end();
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => ((bytes += c.byteLength), hash.update(c)));
    req.on('end', () => {
      this.requests.push(`PUT ${sha} ${bytes}`);
      this.has.add(hash.digest('hex'));
      res.writeHead(201).end();
    });
  }

  private connected(ws: WebSocket): void {
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return this.frames.push(splitChannelFrame(new Uint8Array(data))!);
      const parsed = parseToHead(data.toString('utf8'));
      if (!parsed.ok) throw new Error(`the submitting process sent a bad message: ${parsed.error}`);
      const msg = parsed.value;
      if (msg.type !== 'submit') return this.messages.push(msg);
      if (this.autoAccept) this.send(ws, { type: 'accepted', jobId: msg.jobId, reattached: this.known.has(msg.jobId) });
      this.known.add(msg.jobId);
      this.submits.push({ ws, submit: msg });
    });
  }

  send(ws: WebSocket, msg: ToSubmitter): void {
    ws.send(JSON.stringify(msg));
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The job's actor host as the lent tabs reach it, and the job's events. */
function fakeJob() {
  const links = new Map<ActorLink, number>();
  const seen = {
    opened: new Seen<ActorLink>(),
    messages: new Seen<{ link: ActorLink; msg: ToCoordinator }>(),
    closes: new Seen<{ link: ActorLink; code: number; reason: string }>(),
    retired: new Seen<{ link: ActorLink; reason: string }>(),
    logs: new Seen<string>(),
    cancels: new Seen<string>(),
    failures: new Seen<TabpoolError>(),
  };
  const target: RemoteTarget = {
    onMessage(link, msg) {
      if (!links.has(link)) links.set(link, links.size) && seen.opened.push(link);
      // As the actor host does: a message it cannot take is a protocol violation.
      if (msg.type === 'result') throw new Error(`result for batch ${msg.batchId}, which this actor does not hold`);
      seen.messages.push({ link, msg });
    },
    onClose: (link, code, reason) => seen.closes.push({ link, code, reason }),
    retire: (link, reason) => seen.retired.push({ link, reason }),
  };
  const events = {
    log: (l: string) => seen.logs.push(l),
    cancel: (r: string) => seen.cancels.push(r),
    fail: (e: TabpoolError) => seen.failures.push(e),
  };
  return { target, events, seen };
}

const PLACEMENT = { pool: { min: 1, max: 2 }, ep: 'wasm' as const, allowSoftwareGpu: false, numGpus: null, numCpus: null };

async function file(name: string, bytes: Uint8Array): Promise<RemoteJob['files'][number]> {
  const p = path.join(dir, name);
  await fs.writeFile(p, bytes);
  return { path: p, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function remoteJob(files: RemoteJob['files'] = []): RemoteJob {
  return {
    name: 'my job',
    placement: { ...PLACEMENT, actorMemory: 2 ** 20, weight: 1, priority: 0 },
    out: '/tmp/out.jsonl',
    total: 24,
    files,
  };
}

/** A pool (closed when `t` ends) for `job`, on `head`. */
function remotePool(
  t: TestContext,
  head: FakeHead,
  job: ReturnType<typeof fakeJob>,
  o: { files?: RemoteJob['files']; token?: string } = {},
) {
  const pool = new RemotePool(head.origin, o.token ?? TOKEN, remoteJob(o.files), job.target, job.events);
  t.after(() => pool.close());
  return pool;
}

/** A pool submitted to `head` and accepted, with one tab lent on `channel` (its hello relayed). */
async function lent(t: TestContext, head: FakeHead, channel = 5, headTimeoutMs?: number) {
  const job = fakeJob();
  const pool = new RemotePool(head.origin, TOKEN, remoteJob(), job.target, job.events, headTimeoutMs);
  t.after(() => pool.close());
  await pool.start();
  const { ws } = await head.submits.find();
  head.send(ws, { type: 'tab-open', channel, hostId: 'host-a', tabId: 'tab-1' });
  head.send(ws, { type: 'tab-text', channel, text: JSON.stringify(hello('host-a')) });
  const link = await job.seen.opened.find();
  return { job, pool, ws, link };
}

/**
 * Holds the event loop as a job's process would (its server, its terminal): RemotePool's own retry
 * timer does not (see the todo test below). A listening socket, so that it is no timer itself.
 */
async function keepAlive(t: TestContext): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => void server.close());
}

test('uploads only the files the head lacks, then submits the job; start resolves once the head accepts it', OPTS, async (t) => {
  const head = await FakeHead.start(t);
  const kept = await file('kept.onnx', new Uint8Array([1, 2, 3]));
  const fresh = await file('fresh.onnx', TINY_PNG);
  head.has.add(kept.sha256);
  head.autoAccept = false;
  const pool = remotePool(t, head, fakeJob(), { files: [kept, fresh] });
  let accepted = false;
  const started = pool.start().then(() => (accepted = true));
  const { ws, submit } = await head.submits.find();
  assert.deepEqual(head.requests, [`HEAD ${kept.sha256}`, `HEAD ${fresh.sha256}`, `PUT ${fresh.sha256} ${TINY_PNG.byteLength}`]);
  assert.ok(head.has.has(fresh.sha256), 'the bytes uploaded are the file');
  assert.deepEqual(
    { ...submit, secret: typeof submit.secret },
    {
      type: 'submit',
      protocol: POOL_PROTOCOL_VERSION,
      jobId: pool.jobId,
      secret: 'string',
      name: 'my job',
      grant: pool.grant,
      files: [kept.sha256, fresh.sha256],
      placement: remoteJob().placement,
      out: '/tmp/out.jsonl',
      total: 24,
    },
  );
  assert.equal(accepted, false, 'not started before the head accepts');
  head.send(ws, { type: 'accepted', jobId: pool.jobId, reattached: false });
  await started;
});

test(
  "a lent tab is a link for the job's host: its messages reach the host, the host's messages and batches reach its channel",
  OPTS,
  async (t) => {
    const head = await FakeHead.start(t);
    const { job, link } = await lent(t, head, 5);
    assert.deepEqual((await job.seen.messages.find()).msg, hello('host-a'));
    const shutdown = { type: 'shutdown' as const, reason: 'a message for the tab' };
    link.sendJson(shutdown);
    assert.deepEqual(await head.messages.find((m) => m.type === 'tab-text'), {
      type: 'tab-text',
      channel: 5,
      text: JSON.stringify(shutdown),
    });
    const frame = encodeBatchFrame(3, ['a'], [TINY_PNG]);
    link.sendBinary(frame);
    const sent = await head.frames.find();
    assert.deepEqual([sent.channel, Buffer.from(sent.frame).equals(Buffer.from(frame))], [5, true]);
  },
);

test('a channel the head closes or takes back reaches the host; a link the host closes is reported once, then silent', OPTS, async (t) => {
  const head = await FakeHead.start(t);
  const { job, pool, ws, link } = await lent(t, head, 5);
  head.send(ws, { type: 'release', channel: 5, reason: 'job j2 is below its share' });
  assert.deepEqual(await job.seen.retired.find(), { link, reason: 'job j2 is below its share' });
  link.close(CLOSE.released, 'handed back');
  link.close(CLOSE.released, 'handed back');
  link.sendJson({ type: 'shutdown', reason: 'too late' });
  // Messages on one socket arrive in order: once the progress is in, anything sent before it is too.
  pool.progress({ total: 24, done: 4, errors: 0 });
  await head.messages.find((m) => m.type === 'progress');
  assert.deepEqual(head.messages.all, [
    { type: 'tab-close', channel: 5, code: CLOSE.released, reason: 'handed back' },
    { type: 'progress', total: 24, done: 4, errors: 0 },
  ]);
  head.send(ws, { type: 'tab-open', channel: 6, hostId: 'host-b', tabId: 'tab-2' });
  head.send(ws, { type: 'tab-text', channel: 6, text: JSON.stringify(hello('host-b')) });
  const second = await job.seen.opened.find((l) => l !== link);
  head.send(ws, { type: 'tab-close', channel: 6, code: CLOSE.goingAway, reason: 'tab closed' });
  assert.deepEqual(await job.seen.closes.find(), { link: second, code: CLOSE.goingAway, reason: 'tab closed' });
});

test(
  'a tab message the host refuses (or that is not the protocol) closes its channel with 1008, and the host hears it',
  OPTS,
  async (t) => {
    const head = await FakeHead.start(t);
    const { job, ws, link } = await lent(t, head, 5);
    const result = { type: 'result', batchId: 9, items: okItems(1), timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } };
    head.send(ws, { type: 'tab-text', channel: 5, text: JSON.stringify(result) });
    const closed = await head.messages.find((m) => m.type === 'tab-close');
    assert.ok(closed.type === 'tab-close');
    assert.deepEqual([closed.channel, closed.code], [5, CLOSE.policyViolation]);
    assert.match(closed.reason, /result for batch 9, which this actor does not hold/);
    const heard = await job.seen.closes.find();
    assert.deepEqual([heard.link, heard.code], [link, CLOSE.policyViolation]);
    head.send(ws, { type: 'tab-open', channel: 6, hostId: 'host-b', tabId: 'tab-2' });
    head.send(ws, { type: 'tab-text', channel: 6, text: '{"type":"ready"}' });
    const bad = await head.messages.find((m) => m.type === 'tab-close' && m.channel === 6);
    assert.match((bad as { reason: string }).reason, /^invalid message: /);
    assert.match(await job.seen.logs.find((l) => l.includes('channel 6')), /closing tab channel 6: invalid message/);
  },
);

test("the head's cancel asks the job to drain; the job's progress and its end reach the head", OPTS, async (t) => {
  const head = await FakeHead.start(t);
  const { job, pool, ws } = await lent(t, head);
  head.send(ws, { type: 'cancel', reason: 'cancelled with tabpool cancel' });
  assert.equal(await job.seen.cancels.find(), 'cancelled with tabpool cancel');
  pool.progress({ total: 24, done: 10, errors: 2 });
  pool.finish('cancelled', 'interrupted: 10 of 24 rows written');
  assert.deepEqual(await head.messages.find((m) => m.type === 'finished'), {
    type: 'finished',
    status: 'cancelled',
    message: 'interrupted: 10 of 24 rows written',
  });
  assert.deepEqual(
    head.messages.all.find((m) => m.type === 'progress'),
    { type: 'progress', total: 24, done: 10, errors: 2 },
  );
});

test(
  'the head going away closes every lent link (1006); the job reattaches with the same id and secret once it is back',
  OPTS,
  async (t) => {
    const head = await FakeHead.start(t);
    const { job, pool, ws, link } = await lent(t, head);
    const first = await head.submits.find();
    ws.terminate();
    assert.deepEqual(await job.seen.closes.find(), { link, code: 1006, reason: 'the connection to the head was lost' });
    await job.seen.logs.find((l) => l.startsWith('lost the head'));
    const again = await head.submits.find((s) => s !== first);
    assert.deepEqual([again.submit.jobId, again.submit.secret], [first.submit.jobId, first.submit.secret]);
    assert.equal(
      await job.seen.logs.find((l) => l.startsWith('reattached')),
      `reattached to the head at ${head.origin} as job ${pool.jobId}`,
    );
    assert.deepEqual(job.seen.failures.all, []);
  },
);

test('a head gone longer than the head timeout fails the job with HEAD_UNREACHABLE, saying --resume finishes it', OPTS, async (t) => {
  const head = await FakeHead.start(t);
  const { job } = await lent(t, head, 5, 0);
  await keepAlive(t);
  await head.close();
  const err = await job.seen.failures.find();
  assert.ok(err instanceof TabpoolError);
  assert.equal(err.code, 'HEAD_UNREACHABLE');
  assert.match(err.message, /the head at http:\/\/127\.0\.0\.1:\d+ was gone over 0s; the rows so far are written, and --resume finishes/);
});

test(
  'while the head is away, the pending reconnect keeps the process alive, so a run --on with nothing else running waits for it',
  OPTS,
  async (t) => {
    const head = await FakeHead.start(t);
    const { job } = await lent(t, head);
    await keepAlive(t);
    await head.close();
    await job.seen.logs.find((l) => l.startsWith('lost the head'));
    assert.ok(process.getActiveResourcesInfo().includes('Timeout'), `nothing but ${process.getActiveResourcesInfo().join(', ')}`);
  },
);

test('start fails with the code a person acts on: a wrong submit token, a refused job, no head at the address', OPTS, async (t) => {
  const head = await FakeHead.start(t);
  const failsWith = (code: string, message: RegExp) => (e: unknown) =>
    e instanceof TabpoolError && e.code === code && message.test(e.message);
  const model = await file('model.onnx', TINY_PNG);
  const wrong = 'wrong-token-0123456789';
  await assert.rejects(
    remotePool(t, head, fakeJob(), { token: wrong, files: [model] }).start(),
    failsWith('SUBMIT_REFUSED', /refused the submit token/),
  );
  await assert.rejects(remotePool(t, head, fakeJob(), { token: wrong }).start(), failsWith('SUBMIT_REFUSED', /refused the submit token/));
  head.autoAccept = false;
  const refused = remotePool(t, head, fakeJob()).start();
  const { ws } = await head.submits.find();
  head.send(ws, { type: 'refused', code: 'SUBMIT_REFUSED', message: 'this tabpool speaks pool protocol 2, the head 1' });
  await assert.rejects(refused, failsWith('SUBMIT_REFUSED', /^the head refused the job: this tabpool speaks pool protocol 2/));
  await head.close();
  await assert.rejects(
    remotePool(t, head, fakeJob()).start(),
    failsWith('HEAD_UNREACHABLE', /could not be reached: .*is tabpool serve running there\?/),
  );
});
