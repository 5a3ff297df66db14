/**
 * Thousands of random and mutated protocol messages, from hundreds of short-lived connections,
 * thrown at a coordinator while a job runs on two honest actors: the coordinator must not crash,
 * and the output must still be complete and equal to onnxruntime-node's. Seeded: a failure names
 * its seed (FUZZ_SEED=… reruns it).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { parseToCoordinator } from '../../../shared/protocol.ts';
import type { ResultMessage } from '../../../shared/protocol.ts';
import { CACHE_DIR, startCoordinator, type RunningCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions } from '../../support/reference.ts';
import { helloMessage, socketUrlFor, startActors } from '../../support/simulatedActor.ts';
import { mulberry32, writeTestPngs } from '../../support/testImages.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const CONNECTIONS = 400;
const PARALLEL = 6;
const MAX_MESSAGES_PER_CONNECTION = 14;
/** Connections that become ready actors (and so hold batches when they misbehave). */
const READY_SHARE = 0.15;
const BATCH_SIZE = 4;
const TOP_K = 5;
const NUM_CLASSES = 1000;

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);

function deep(rand: Rand): unknown {
  let v: unknown = pick(rand, [1, 'x', null, true]);
  const depth = 1 + int(rand, 3000);
  for (let i = 0; i < depth; i++) v = rand() < 0.5 ? [v] : { a: v };
  return v;
}

/** Values that break naive code: wrong types, edges of number ranges, long strings, nesting. */
function nasty(rand: Rand): unknown {
  return pick(rand, [
    () => null,
    () => undefined,
    () => true,
    () => 0,
    () => -1,
    () => -0,
    () => 0.5,
    () => 1e308,
    () => -1e308,
    () => Number.MAX_SAFE_INTEGER + 2,
    () => 2 ** 32,
    () => int(rand, 1_000_000),
    () => '',
    () => 'NaN',
    () => 'x'.repeat(int(rand, 20_000)),
    () => '\u0000\ud800',
    () => [],
    () => [1, 2, 3],
    () => ({}),
    () => ({ __proto__: { polluted: true } }),
    () => deep(rand),
  ])();
}

function batchId(rand: Rand): number {
  return pick(rand, [int(rand, 40), int(rand, 40), 0, -1, 2 ** 31, 1e300, 0.5]);
}

function topk(rand: Rand): { class: number; label: string; score: number }[] {
  return Array.from({ length: 1 + int(rand, 7) }, () => {
    const c = pick(rand, [int(rand, NUM_CLASSES), NUM_CLASSES + int(rand, 200_000)]);
    return { class: c, label: `class ${c}`, score: rand() };
  });
}

/** A classifier row, sometimes wrong (a class out of range, too many classes, a logits column it did not declare). */
function row(rand: Rand): Record<string, unknown> {
  const k = topk(rand);
  return { class: k[0]!.class, label: k[0]!.label, score: k[0]!.score, topk: k, ...(rand() < 0.2 ? { logits: [0.1, 0.2] } : {}) };
}

/** A well-formed message of each kind the coordinator accepts, filled with random values. */
function template(rand: Rand): Record<string, unknown> {
  switch (int(rand, 5)) {
    case 0:
      return { ...helloMessage(`fuzz-${int(rand, 5)}`) } as unknown as Record<string, unknown>;
    case 1:
      return {
        type: 'ready',
        ep: pick(rand, ['wasm', 'webgpu']),
        probe: [],
        loadMs: rand() * 100,
        warmupMs: 0,
        modelFromCache: rand() < 0.5,
        threads: 1 + int(rand, 4),
      };
    case 2: {
      const n = 1 + int(rand, 7);
      const items = Array.from({ length: n }, () =>
        rand() < 0.8 ? { ok: true, row: row(rand) } : { ok: false, code: 'CORRUPT_IMAGE', message: 'fuzz' },
      );
      return { type: 'result', batchId: batchId(rand), items, timing: { decodeMs: 1, inferenceMs: 1, totalMs: 2 } };
    }
    case 3:
      return {
        type: 'batch-failed',
        batchId: batchId(rand),
        code: pick(rand, ['INFERENCE_FAILED', 'DEVICE_LOST', 'NOPE']),
        message: 'fuzz',
      };
    default:
      return { type: 'actor-error', code: pick(rand, ['MODEL_LOAD_FAILED', 'PROTOCOL_ERROR']), message: 'fuzz' };
  }
}

/** Every [path] into an object, for mutation. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v && typeof v === 'object' && out.length < 200) {
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(child, p, out);
    }
  }
  return out;
}

function mutate(rand: Rand, msg: Record<string, unknown>): Record<string, unknown> {
  const all = paths(msg);
  const times = 1 + int(rand, 3);
  for (let i = 0; i < times && all.length > 0; i++) {
    const p = pick(rand, all);
    const parent = p.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)?.[k], msg) as
      Record<string | number, unknown> | undefined;
    if (!parent || typeof parent !== 'object') continue;
    const key = p[p.length - 1]!;
    const op = int(rand, 4);
    if (op === 0) delete parent[key];
    else if (op === 1) parent[key] = nasty(rand);
    else if (op === 2) parent[`${String(key)}_extra`] = nasty(rand);
    else if (key === 'type')
      parent[key] = pick(rand, ['hello', 'ready', 'result', 'batch-failed', 'actor-error', 'batch', 'welcome', 'shutdown', '', 'HELLO']);
    else parent[key] = JSON.parse(JSON.stringify(parent[key] ?? null)) as unknown;
  }
  return msg;
}

/** One frame's worth of hostility, as text or binary. */
function hostileFrame(rand: Rand): { data: string | Uint8Array; binary: boolean } {
  const r = rand();
  if (r < 0.55) return { data: JSON.stringify(mutate(rand, template(rand))), binary: false };
  if (r < 0.65) return { data: JSON.stringify(template(rand)), binary: false };
  if (r < 0.72) return { data: Uint8Array.from({ length: int(rand, 4096) }, () => int(rand, 256)), binary: true };
  // Random bytes in a text frame: mostly invalid UTF-8, which ws itself refuses (1007).
  if (r < 0.79) return { data: Uint8Array.from({ length: 1 + int(rand, 256) }, () => int(rand, 256)), binary: false };
  if (r < 0.84) {
    const d = 1 + int(rand, 100_000);
    const open = pick(rand, ['[', '{"type":']);
    return { data: rand() < 0.5 ? open.repeat(d) : `${open.repeat(d)}1${(open === '[' ? ']' : '}').repeat(d)}`, binary: false };
  }
  if (r < 0.88)
    return {
      data:
        `{"type":"result","batchId":${pick(rand, ['1e999', '-1e999', '123456789012345678901234567890', '1.5', '0x10', 'NaN'])},` +
        '"items":[],"timing":{}}',
      binary: false,
    };
  if (r < 0.92) return { data: JSON.stringify(nasty(rand)) ?? 'undefined', binary: false };
  if (r < 0.96)
    return {
      data: pick(rand, ['', ' ', 'null', '[]', '{}', '"hello"', '{"type":"hello"}', '{"__proto__":{"type":"hello"}}']),
      binary: false,
    };
  // A batch frame sent back at the coordinator.
  const header = Buffer.from(JSON.stringify({ type: 'batch', batchId: batchId(rand), items: [{ byteLength: 3 }] }));
  const frame = Buffer.alloc(4 + header.length + 3);
  frame.writeUInt32LE(header.length, 0);
  header.copy(frame, 4);
  return { data: frame, binary: true };
}

/**
 * A schema-valid result could be accepted if it named a batch this connection happens to hold;
 * send one only when the coordinator is bound to refuse it whatever batch it names.
 */
function resultCouldBeAccepted(text: string): boolean {
  const parsed = parseToCoordinator(text);
  if (!parsed.ok || parsed.value.type !== 'result') return false;
  const r: ResultMessage = parsed.value;
  const refused =
    r.items.length > BATCH_SIZE ||
    r.items.some((i) => {
      if (!i.ok) return false;
      const k = i.row.topk as ({ class: unknown } | null)[];
      if (!Array.isArray(k)) return true;
      // A mutated entry that is not an object with a numeric class is refused by the row's column check.
      const bad = (e: { class: unknown } | null) =>
        typeof e !== 'object' || e === null || typeof e.class !== 'number' || e.class >= NUM_CLASSES;
      return k.length > TOP_K || i.row.logits !== undefined || k.some(bad);
    });
  return !refused;
}

function validReady(text: string): boolean {
  const parsed = parseToCoordinator(text);
  return parsed.ok && parsed.value.type === 'ready';
}

interface FuzzStats {
  connections: number;
  frames: number;
  closeCodes: Map<number, number>;
  heldBatches: number;
}

/** One short-lived hostile connection: maybe a hello (and ready), then a burst of bad frames. */
async function fuzzConnection(rand: Rand, workerUrl: string, stats: FuzzStats): Promise<void> {
  const ws = new WebSocket(socketUrlFor(workerUrl), { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  let gotBatch: () => void = () => undefined;
  const firstBatch = new Promise<void>((resolve) => (gotBatch = resolve));
  ws.on('message', (_data, isBinary) => {
    if (!isBinary) return;
    stats.heldBatches++;
    gotBatch();
  });
  const opened = await Promise.race([new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))), closed.then(() => false)]);
  stats.connections++;
  if (!opened) return;
  const send = (data: string | Uint8Array, binary: boolean): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(data, { binary });
    stats.frames++;
  };
  const becomesActor = rand() < READY_SHARE;
  if (becomesActor || rand() < 0.5) send(JSON.stringify(helloMessage(`fuzz-${int(rand, 5)}`)), false);
  if (becomesActor) {
    send(JSON.stringify({ type: 'ready', ep: 'wasm', probe: [], loadMs: 1, warmupMs: 1, modelFromCache: false, threads: 1 }), false);
    // Hold a batch (when one is pending) so the misbehaviour below strands work to requeue.
    await Promise.race([firstBatch, closed, new Promise((r) => setTimeout(r, 200))]);
  }
  const count = 1 + int(rand, MAX_MESSAGES_PER_CONNECTION);
  for (let i = 0; i < count && ws.readyState === WebSocket.OPEN; i++) {
    const frame = hostileFrame(rand);
    if (typeof frame.data === 'string' && (resultCouldBeAccepted(frame.data) || (!becomesActor && validReady(frame.data)))) continue;
    send(frame.data, frame.binary);
    if (rand() < 0.05) ws.ping(Buffer.from('fuzz'));
  }
  const ending = rand();
  if (ending < 0.2) ws.terminate();
  else if (ending < 0.5) ws.close(pick(rand, [1000, 1001, 3000, 4999]), 'fuzz');
  // A connection whose frames were all acceptable stays open: the fuzzer hangs up on it.
  const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 1000))]);
  if (code === -1) ws.terminate();
  stats.closeCodes.set(code, (stats.closeCodes.get(code) ?? 0) + 1);
}

/** Garbage below the WebSocket layer: random bytes, and upgrade requests missing their parts. */
function rawTcp(rand: Rand, port: number): Promise<void> {
  const payloads = [
    Buffer.from(Uint8Array.from({ length: 1 + int(rand, 2048) }, () => int(rand, 256))),
    Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    Buffer.from(
      'GET /ws?token=nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: ' +
        '13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n',
    ),
    Buffer.from(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`),
  ];
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(pick(rand, payloads)));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.resume();
    socket.setTimeout(5000, () => socket.destroy());
  });
}

let tmp: string | null = null;
let coordinator: RunningCoordinator | null = null;

after(async () => {
  coordinator?.kill('SIGKILL');
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test(
  'survives thousands of random and mutated messages while a job runs, and its output stays complete and correct',
  { timeout: 90_000 },
  async (t) => {
    const started = Date.now();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-fuzz-'));
    const out = path.join(tmp, 'out.jsonl');
    const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
    const files = await writeTestPngs(path.join(tmp, 'data'), 48, 64, 64, 9);
    const reference = await referencePredictions(model.path, files);
    // Connections that become actors fail the batches they hold; each such failure counts against
    // the batch, so the retry budget must exceed how many of them can take the same batch.
    coordinator = await startCoordinator(
      jobArgv({
        model: 'resnet18-tiny',
        launch: 0,
        data: path.join(tmp, 'data'),
        out,
        batchSize: BATCH_SIZE,
        topK: TOP_K,
        maxRetries: 100,
        verify: 0,
      }),
    );
    const port = Number(new URL(coordinator.workerUrl).port);

    // The honest actors keep pace with the fuzzing: answer j waits for j/batches of the connections,
    // so the job is running from the first hostile frame to the last and cannot end before it.
    const batches = files.length / BATCH_SIZE;
    let finishedConnections = 0;
    let answers = 0;
    const waiters: (() => void)[] = [];
    const progressed = (): void => {
      finishedConnections++;
      for (const w of waiters.splice(0)) w();
    };
    const paced = async (): Promise<void> => {
      const j = ++answers;
      const needed = Math.min(CONNECTIONS, Math.floor((j * CONNECTIONS) / batches));
      while (finishedConnections < needed) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const honest = await startActors(coordinator.workerUrl, 2, {
      mode: 'real',
      onBatch: async (batch, actor) => {
        await paced();
        actor.send(await actor.answer(batch));
      },
    });

    const rand = mulberry32(SEED);
    const stats: FuzzStats = { connections: 0, frames: 0, closeCodes: new Map(), heldBatches: 0 };
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < CONNECTIONS) {
        next++;
        const r = mulberry32(Math.floor(rand() * 2 ** 32));
        if (r() < 0.03) await rawTcp(r, port);
        await fuzzConnection(r, coordinator!.workerUrl, stats);
        progressed();
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, lane));
    const context =
      `seed ${SEED}: ${stats.connections} connections, ${stats.frames} frames, ${stats.heldBatches} batches ` +
      `held by hostile actors, close codes ${JSON.stringify([...stats.closeCodes])}`;

    assert.equal(
      coordinator.process.exitCode,
      null,
      `the coordinator died under fuzzing (${context}):\n${coordinator.stderr().slice(-4000)}`,
    );
    const status = await fetch(coordinator.statusUrl.replace('/?', '/api/status?'));
    assert.equal(status.status, 200, context);
    assert.ok(stats.frames >= 2000, `only ${stats.frames} frames were sent (${context})`);

    const code = await coordinator.exited;
    assert.equal(code, 0, `${context}\n${coordinator.stderr().slice(-4000)}`);
    await honest.closed;
    assert.deepEqual(
      honest.actors.flatMap((a) => a.problems),
      [],
      context,
    );
    await assertCompleteAndCorrect(out, files, reference);
    assert.doesNotMatch(coordinator.stderr(), /Uncaught|TypeError|RangeError|ReferenceError/, context);
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms (${context})`);
    t.diagnostic(context);
  },
);
