/**
 * A real coordinator against clients that break the protocol: each is refused at the upgrade or
 * closed with a close code and a logged reason, the batches it held go back to the queue, and the
 * job still ends with one correct row per input. Two honest actors run alongside the whole time;
 * they hold their answers until the last test, so every hostile client meets a running job.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, startCoordinator, waitForLog, type RunningCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions, type ReferencePrediction } from '../../support/reference.ts';
import {
  SimulatedActor,
  startActors,
  type ActorGroup,
  type ReceivedBatch,
  type SimulatedActorOptions,
} from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const CLOSE_POLICY = 1008;
const CLOSE_UNSUPPORTED = 1003;
const CLOSE_TOO_BIG = 1009;
const CLOSE_BAD_RESULT = 4002;

let tmp: string;
let out: string;
let files: { id: string; path: string }[];
let reference: Map<string, ReferencePrediction>;
let coordinator: RunningCoordinator | null = null;
let honest: ActorGroup | null = null;
let releaseHonest: () => void = () => undefined;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-hostile-'));
  out = path.join(tmp, 'out.jsonl');
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  files = await writeTestPngs(path.join(tmp, 'data'), 40, 64, 64, 5);
  reference = await referencePredictions(model.path, files);
  // Every hostile client below fails the batches it held, and those failures count against the
  // batches: with the default --max-retries 3, honest inputs could end as RETRIES_EXHAUSTED.
  coordinator = await startCoordinator(
    jobArgv({
      model: 'resnet18-tiny',
      launch: 0,
      data: path.join(tmp, 'data'),
      out,
      batchSize: 4,
      pool: '1..16',
      maxRetries: 30,
      maxMessagesPerSecond: 200,
      verify: 0,
    }),
  );
  const gate = new Promise<void>((resolve) => (releaseHonest = resolve));
  honest = await startActors(coordinator.workerUrl, 2, {
    mode: 'real',
    onBatch: async (batch, actor) => {
      await gate;
      actor.send(await actor.answer(batch));
    },
  });
  // The honest pair must hold batches before the first hostile client is let in.
  await Promise.all(honest.actors.map((a) => a.firstBatch));
});

after(async () => {
  releaseHonest();
  coordinator?.kill('SIGKILL');
  for (const a of honest?.actors ?? []) a.terminate();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A hostile actor that misbehaves once, on its first batch (so it holds work when it does). */
function hostile(
  mode: SimulatedActorOptions['mode'],
  misbehave: (batch: ReceivedBatch, actor: SimulatedActor) => void | Promise<void>,
): SimulatedActor {
  let done = false;
  return new SimulatedActor(coordinator!.workerUrl, {
    mode,
    onBatch: async (batch, actor) => {
      if (done) return;
      done = true;
      await misbehave(batch, actor);
    },
  });
}

const READY = { type: 'ready', ep: 'wasm', probe: [], loadMs: 1, warmupMs: 1, modelFromCache: false, threads: 1 } as const;

interface Case {
  what: string;
  code: number;
  /** The close reason the client receives. */
  reason: RegExp;
  /** The coordinator's log line naming the violation. */
  logged: RegExp;
  /** The violation is logged once, however many frames follow it before the close completes. */
  loggedOnce?: boolean;
  mode?: SimulatedActorOptions['mode'];
  misbehave(batch: ReceivedBatch, actor: SimulatedActor): void | Promise<void>;
}

const cases: Case[] = [
  {
    what: 'malformed JSON',
    code: CLOSE_POLICY,
    reason: /^invalid message: not JSON/,
    logged: /closing [\d.:]+: invalid message: not JSON/,
    misbehave: (_b, a) => a.sendRaw('{"type":"result","batchId":'),
  },
  {
    what: 'a message that fails the schema',
    code: CLOSE_POLICY,
    reason: /^invalid message: ep: /,
    logged: /closing [\d.:]+: invalid message: ep: .*loadMs: /,
    misbehave: (_b, a) => a.send({ type: 'ready', ep: 'cuda' }),
  },
  {
    what: 'a binary frame',
    code: CLOSE_UNSUPPORTED,
    reason: /^binary frames are not accepted from actors$/,
    logged: /closing [\d.:]+: binary frames are not accepted from actors/,
    misbehave: (_b, a) => a.sendRaw(new Uint8Array([1, 2, 3, 4])),
  },
  {
    what: 'a frame over the 8 MiB payload limit',
    code: CLOSE_TOO_BIG,
    reason: /^$/,
    logged: /socket error from [\d.:]+: Max payload size exceeded/,
    misbehave: (_b, a) => a.sendRaw(`"${'x'.repeat(9 * 2 ** 20)}"`),
  },
  {
    what: 'a flood of over 200 messages a second',
    code: CLOSE_POLICY,
    reason: /^flood: over 200 messages per second$/,
    logged: /closing [\d.:]+: flood: over 200 messages per second/,
    loggedOnce: true,
    misbehave: (_b, a) => {
      for (let i = 0; i < 300; i++) a.send(READY);
    },
  },
  {
    what: 'a result for a batch another actor holds',
    code: CLOSE_POLICY,
    reason: /^message rejected: result for batch \d+, which this actor does not hold$/,
    logged: /closing [\d.:]+: message rejected: result for batch \d+, which this actor does not hold/,
    misbehave: async (b, a) => a.send({ ...(await a.answer(b)), batchId: honest!.actors[0]!.batchIds[0]! }),
  },
  {
    what: 'a result with one item too few',
    code: CLOSE_BAD_RESULT,
    // The tail splits batches once the whole dataset is read, so the size is whatever this one had.
    reason: /^bad result: (\d+) items for a batch of (?!\1\b)\d+$/,
    logged: /closing actor-\d+: bad result: \d+ items for a batch of \d+/,
    misbehave: async (b, a) => {
      const r = await a.answer(b);
      a.send({ ...r, items: r.items.slice(1) });
    },
  },
  {
    what: 'a result whose class is out of the model’s range',
    code: CLOSE_BAD_RESULT,
    reason: /^bad result: items\.0: class 1000 out of range \(the model has 1000\)$/,
    logged: /closing actor-\d+: bad result: items\.0: class 1000 out of range/,
    misbehave: async (b, a) => {
      const r = await a.answer(b);
      const topk = [{ class: 1000, label: 'class 1000', score: 0.9 }];
      a.send({ ...r, items: r.items.map(() => ({ ok: true, row: { class: 1000, label: 'class 1000', score: 0.9, topk } })) });
    },
  },
  {
    what: 'a result with a NaN score (null on the wire)',
    code: CLOSE_BAD_RESULT,
    reason: /^bad result: items\.0: column score: expected a number \(float64\), got null/,
    logged: /closing actor-\d+: bad result: items\.0: column score: expected a number/,
    misbehave: async (b, a) => {
      const r = await a.answer(b);
      const topk = [{ class: 1, label: 'class 1', score: 0.9 }];
      a.send({ ...r, items: r.items.map(() => ({ ok: true, row: { class: 1, label: 'class 1', score: NaN, topk } })) });
    },
  },
  {
    what: 'a second result for the same batch',
    code: CLOSE_POLICY,
    reason: /^message rejected: result for batch \d+, which this actor does not hold$/,
    logged: /closing [\d.:]+: message rejected: result for batch \d+, which this actor does not hold/,
    // Its first answer is honest (real inference) and is kept; only the repeat is refused.
    mode: 'real',
    misbehave: async (b, a) => {
      const r = await a.answer(b);
      a.send(r);
      a.send(r);
    },
  },
];

describe('a coordinator facing hostile clients', () => {
  test('refuses a WebSocket upgrade without the token with HTTP 401', async () => {
    const a = new SimulatedActor(coordinator!.workerUrl.replace(/token=[^&]*/, 'token='), { mode: 'instant' });
    await assert.rejects(a.opened, (err: Error & { statusCode?: number }) => err.statusCode === 401);
    await waitForLog(coordinator!, /refused WebSocket from [\d.:]+: missing or wrong token/);
  });

  test('refuses a WebSocket upgrade from a foreign Origin with HTTP 403', async () => {
    const a = new SimulatedActor(coordinator!.workerUrl, { mode: 'instant', origin: 'http://evil.example' });
    await assert.rejects(a.opened, (err: Error & { statusCode?: number }) => err.statusCode === 403);
    await waitForLog(coordinator!, /refused WebSocket from [\d.:]+: foreign Origin http:\/\/evil\.example/);
  });

  for (const c of cases) {
    test(`closes a client that sends ${c.what} with ${c.code} and requeues its batches`, async () => {
      const a = hostile(c.mode ?? 'instant', c.misbehave);
      const closed = await a.closed;
      assert.equal(closed.code, c.code, `closed with ${closed.code} (${closed.reason})`);
      assert.match(closed.reason, c.reason);
      assert.ok(a.batchIds.length > 0, 'the hostile client was given work before it misbehaved');
      await waitForLog(coordinator!, c.logged);
      // Its batches are back in the queue: a bad result's batch at once, the rest when the socket closes.
      const requeued =
        c.code === CLOSE_BAD_RESULT
          ? `${a.actorId} left: socket closed \\(`
          : `${a.actorId} left: socket closed \\(\\d+[^\\n]*; [1-9]\\d* batch\\(es\\) requeued`;
      await waitForLog(coordinator!, new RegExp(requeued));
      if (c.loggedOnce)
        assert.equal(coordinator!.stderr().match(new RegExp(c.logged, 'g'))?.length, 1, 'frames after the violation were still acted on');
    });
  }

  test('still finishes with one row per input, each the reference top-1, and exit 0', async () => {
    releaseHonest();
    const code = await coordinator!.exited;
    assert.equal(code, 0, coordinator!.stderr().slice(-4000));
    const closings = await honest!.closed;
    assert.deepEqual(
      closings.map((c) => c.code),
      [4000, 4000],
    );
    assert.deepEqual(
      honest!.actors.flatMap((a) => a.problems),
      [],
    );
    await assertCompleteAndCorrect(out, files, reference);
    assert.doesNotMatch(coordinator!.stderr(), /Uncaught|TypeError|RangeError/);
  });
});
