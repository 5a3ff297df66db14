/** An actor host over fake links and a fake clock, for the host's unit tests: tabs join, answer and fail batches by hand. */
/**
 * The actor host on its own (coordinator/host/actorHost.ts), with no job around it: fake tabs, a
 * work source the test fills, a sink that records what would be written, and a clock the test
 * moves. What is asserted is what a tab hears (welcome, admission, shutdown, its close code) and
 * what the host's owner hears (rows, error rows, events).
 */
import assert from 'node:assert/strict';
import Classifier, { type ClassifierConfig } from '../../actors/classifier.ts';
import { ActorHost } from '../../coordinator/host/actorHost.ts';
import type { HostIntake } from '../../coordinator/host/ports.ts';
import type { InputItem } from '../../coordinator/io/inputItem.ts';
import { poolPolicy } from '../../coordinator/pool/epPolicy.ts';
import { parseOutputs } from '../../shared/columns.ts';
import type { ErrorCode, SerializedError } from '../../shared/errors.ts';
import { PROTOCOL_VERSION, type DeclaredResources, type ExecutionProvider, type ItemResult, type JobSpec } from '../../shared/protocol.ts';
import { FakeClock } from './fakeClock.ts';
import { FakeLink, hello, okItems, TINY_PNG } from './jobHarness.ts';

const CONFIG: ClassifierConfig = {
  inputName: 'input',
  outputName: 'logits',
  numClasses: 10,
  topK: 2,
  logits: false,
  labels: 'index',
  fixedBatch: null,
};
const COLUMNS = (parseOutputs(Classifier.outputs(CONFIG)) as Extract<ReturnType<typeof parseOutputs>, { ok: true }>).columns;

/** What an admitted tab loads the job by (its content does not matter to the host). */
export function spec(eps: ExecutionProvider[]): JobSpec {
  return {
    files: [],
    actor: { kind: 'builtin', name: 'classifier' },
    config: CONFIG,
    inputs: 'image',
    preprocess: null,
    exifTranspose: false,
    outputs: Classifier.outputs(CONFIG),
    eps,
    numThreads: 1,
    allowSoftwareGpu: false,
    recycle: { afterBatches: null, aboveBytes: null },
  };
}

export interface HostRun {
  host: ActorHost;
  clock: FakeClock;
  /** Each input answered, with the actor whose answer was written. */
  rows: { id: string; actor: string }[];
  errorRows: { id: string; error: SerializedError }[];
  logs: string[];
  heard: { started: number; refused: number; emptied: number; actorFailed: string[] };
  /** A tab's hello; then its ready on the first EP it was offered, when admitted (unless `ready` is false). */
  join(hostId: string, o?: { declared?: DeclaredResources; ready?: boolean }): Promise<FakeLink>;
  answer(link: FakeLink, batchId: number, items?: ItemResult[]): void;
  failBatch(link: FakeLink, batchId: number, code: ErrorCode): void;
  /** Batches sent to `link` that it has not answered or failed yet. */
  open(link: FakeLink): number[];
  settle(): Promise<void>;
}

export interface HostOptions {
  poolMin?: number;
  poolMax?: number;
  batchSize?: number;
  inFlight?: number;
  retries?: number;
  /** --num-cpus as threads (null: the host's share). */
  threads?: number | null;
}

/** A host with `items` inputs waiting (in-0, in-1, …), all read in. */
export function startHost(items: number, o: HostOptions = {}): HostRun {
  const clock = new FakeClock();
  const rows: HostRun['rows'] = [];
  const errorRows: HostRun['errorRows'] = [];
  const logs: string[] = [];
  const heard: HostRun['heard'] = { started: 0, refused: 0, emptied: 0, actorFailed: [] };
  let intake: HostIntake | null = null;
  const host = new ActorHost({
    settings: {
      batchSize: o.batchSize ?? 2,
      maxBatch: 64,
      fixedBatch: null,
      maxTasksInFlight: o.inFlight ?? 1,
      threads: o.threads ?? null,
      maxRetries: o.retries ?? 3,
      batchTimeoutMs: null,
      stallTimeoutMs: 300_000,
      poolMin: o.poolMin ?? 1,
      rules: { columns: COLUMNS },
    },
    policy: poolPolicy({
      pool: { min: o.poolMin ?? 1, max: o.poolMax ?? 8 },
      ep: 'wasm',
      allowSoftwareGpu: false,
      numGpus: null,
      numCpus: null,
      actorMemory: 2 ** 30,
    }),
    spec,
    source: (i) => ((intake = i), { wake: () => undefined, exhausted: true }),
    sink: {
      answered: (actor, answered) => rows.push(...answered.map((item) => ({ id: item.id, actor: actor.id }))),
      failed: (item, error) => errorRows.push({ id: item.id, error }),
    },
    events: {
      log: (l) => logs.push(l),
      changed: () => undefined,
      started: () => heard.started++,
      refused: () => heard.refused++,
      emptied: () => heard.emptied++,
      actorFailed: (actor, what) => heard.actorFailed.push(`${actor.id}: ${what}`),
      stalled: () => undefined,
    },
    read: async () => ({ bytes: TINY_PNG }),
    resolveUrl: async (s) => s,
    clock,
  });
  const inputs: InputItem[] = Array.from({ length: items }, (_, i) => ({ id: `in-${i}`, source: `fake://${i}`, bytes: TINY_PNG }));
  intake!.add(inputs);
  // A retried batch goes out again under its id: each send is answered once.
  const handled = new Set<object>();
  const mark = (link: FakeLink, batchId: number): void =>
    void handled.add(link.batches.find((b) => b.batchId === batchId && !handled.has(b))!);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  return {
    host,
    clock,
    rows,
    errorRows,
    logs,
    heard,
    async join(hostId, j = {}) {
      const link = new FakeLink(clock);
      host.onMessage(link, { ...hello(hostId), declared: j.declared ?? {} });
      const welcome = link.json[0];
      if ((j.ready ?? true) && welcome?.type === 'welcome' && welcome.status === 'admitted') {
        const ep = welcome.job!.eps[0]!;
        host.onMessage(link, {
          type: 'ready',
          ep,
          probe: [],
          loadMs: 1,
          warmupMs: 0,
          modelFromCache: false,
          threads: welcome.job!.numThreads,
        });
      }
      await settle();
      return link;
    },
    answer(link, batchId, answer) {
      mark(link, batchId);
      const b = link.batches.find((x) => x.batchId === batchId)!;
      const timing = { decodeMs: 0, inferenceMs: 0, totalMs: 0 };
      host.onMessage(link, { type: 'result', batchId, items: answer ?? okItems(b.items), timing }, clock.now());
    },
    failBatch(link, batchId, code) {
      mark(link, batchId);
      host.onMessage(link, { type: 'batch-failed', batchId, code, message: `${code} on purpose` });
    },
    open: (link) => link.batches.filter((b) => !handled.has(b)).map((b) => b.batchId),
    settle,
  };
}

export const statuses = (links: FakeLink[]) => links.map((l) => (l.json[0]?.type === 'welcome' ? l.json[0].status : 'no welcome'));

/** Answers every open batch of `links` (those not closed) until none is left. */
export async function answerAll(h: HostRun, links: FakeLink[]): Promise<void> {
  for (let round = 0; round < 100; round++) {
    await h.settle();
    const live = links.filter((l) => !l.closed && h.open(l).length > 0);
    if (live.length === 0) return;
    for (const l of live) for (const id of h.open(l)) h.answer(l, id);
  }
}

export function assertEachInputOnce(h: HostRun, n: number): void {
  assert.deepEqual(h.rows.map((r) => r.id).sort(), Array.from({ length: n }, (_, i) => `in-${i}`).sort());
}
