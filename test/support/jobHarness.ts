/**
 * A Job built in-process, with fake actor links, an in-memory output and a clock the test moves:
 * scheduling, deadlines, requeues and the join timeout are tested without processes or sockets.
 */
import { PNG } from 'pngjs';
import type { InputReader } from '../../coordinator/io/datasetFeeder.ts';
import { decodeBatchFrame } from '../../shared/batchFrame.ts';
import type { CloseCode } from '../../shared/closeCodes.ts';
import {
  PROTOCOL_VERSION,
  parseBatchHeader,
  type Capabilities,
  type ExecutionProvider,
  type HelloMessage,
  type ItemResult,
  type JobSpec,
  type ToActorJson,
} from '../../shared/protocol.ts';
import type { Dataset } from '../../coordinator/io/dataset.ts';
import type { OutputRow, RowSink } from '../../coordinator/io/outputRow.ts';
import type { JobOptions } from '../../coordinator/options/jobOptions.ts';
import type { ActorLink } from '../../coordinator/pool/actor.ts';
import { Job } from '../../coordinator/job/job.ts';
import { referenceRows } from '../../coordinator/verify/referenceInputs.ts';
import { peerComparison, rowComparison } from '../../coordinator/verify/actorVerification.ts';
import { rowRules } from '../../coordinator/actor/actorFromContent.ts';
import { tabSpecFor } from '../../coordinator/actor/tabSpec.ts';
import Classifier, { type ClassifierConfig } from '../../actors/classifier.ts';
import type { ActorClass } from '../../shared/actorApi.ts';
import { parseOutputs } from '../../shared/columns.ts';
import { preprocessSpecFor } from '../../shared/preprocess.ts';
import { FakeClock } from './fakeClock.ts';

/** A valid 8×8 PNG: every fake input is these bytes. */
export const TINY_PNG = new Uint8Array(
  PNG.sync.write(Object.assign(new PNG({ width: 8, height: 8 }), { data: Buffer.alloc(8 * 8 * 4, 128) })),
);

export const DEFAULT_OPTIONS: JobOptions = {
  models: ['fake'],
  exifTranspose: false,
  actor: null,
  actorConfig: null,
  data: null,
  out: 'memory',
  format: 'jsonl',
  overwrite: false,
  rowsPerPart: null,
  batchSize: 4,
  pool: { min: 1, max: 8 },
  ep: 'wasm',
  allowSoftwareGpu: false,
  launch: 0,
  host: '127.0.0.1',
  port: 0,
  topK: 2,
  numGpus: null,
  numCpus: null,
  memoryBytes: null,
  maxTasksInFlight: 2,
  joinTimeoutMs: 30_000,
  stallTimeoutMs: 300_000,
  batchTimeoutMs: null,
  maxRetries: 3,
  verifyRate: 0,
  verifyCpu: 1,
  maxMessagesPerSecond: 2000,
  logits: false,
  resume: false,
  cacheDir: '.',
  token: null,
  s3Endpoint: null,
  tls: null,
  tlsCert: null,
  tlsKey: null,
  queue: null,
  job: null,
  ackWaitMs: 30_000,
  weight: 1,
  priority: 0,
  heartbeatMs: 15_000,
  recycle: { afterBatches: null, aboveBytes: null },
  on: null,
  submitToken: null,
};

export class MemorySink implements RowSink {
  readonly written = new Set<string>();
  readonly rows: OutputRow[] = [];
  /** While paused (a disk slower than the actors), writes are taken and resolve on `resume`. */
  private paused: (() => void)[] | null = null;
  async write(rows: readonly OutputRow[]): Promise<void> {
    this.rows.push(...rows);
    if (this.paused) await new Promise<void>((resolve) => this.paused!.push(resolve));
  }
  async flushed(): Promise<void> {}
  pause(): void {
    this.paused ??= [];
  }
  resume(): void {
    const waiting = this.paused ?? [];
    this.paused = null;
    for (const w of waiting) w();
  }
}

/** One fake tab: what the job sent it, and how it closed it. */
export class FakeLink implements ActorLink {
  readonly json: ToActorJson[] = [];
  /** Batches sent to it: id, item count, each item's byte length (0 for a URL) and when (the test clock's ms), in order. */
  readonly batches: { batchId: number; items: number; ids: string[]; sizes: number[]; sentAt: number }[] = [];
  constructor(private readonly clock?: FakeClock) {}
  closed: { code: CloseCode; reason: string } | null = null;
  /** Batch ids the test has answered on this link. */
  readonly answered = new Set<number>();
  sendJson(msg: ToActorJson): void {
    this.json.push(msg);
  }
  sendBinary(frame: Uint8Array): void {
    const { header } = decodeBatchFrame(frame);
    const parsed = parseBatchHeader(header);
    if (!parsed.ok) throw new Error(parsed.error);
    const sizes = parsed.value.items.map((i) => ('byteLength' in i ? i.byteLength : 0));
    const { batchId, ids, items } = parsed.value;
    this.batches.push({ batchId, items: items.length, ids, sizes, sentAt: this.clock?.now() ?? 0 });
  }
  close(code: CloseCode, reason: string): void {
    this.closed ??= { code, reason };
  }
}

export function caps(gpu: 'none' | 'software' | 'hardware' = 'none'): Capabilities {
  return {
    webgpu:
      gpu === 'none'
        ? null
        : {
            vendor: 'v',
            architecture: gpu === 'software' ? 'swiftshader' : 'ampere',
            device: '',
            description: '',
            isSoftware: gpu === 'software',
            limits: {},
          },
    hardwareConcurrency: 4,
    deviceMemoryGiB: 8,
    crossOriginIsolated: true,
    secureContext: true,
    userAgent: 'test',
  };
}

export function hello(hostId: string, c: Capabilities = caps()): HelloMessage {
  return { type: 'hello', protocol: PROTOCOL_VERSION, hostId, capabilities: c, declared: {}, pinnedEp: null };
}

const NUM_CLASSES = 10;

/** The built-in classifier over a 10-class model, as the fake tabs' job. */
const CONFIG: ClassifierConfig = {
  inputName: 'input',
  outputName: 'logits',
  numClasses: NUM_CLASSES,
  topK: 2,
  logits: false,
  labels: 'index',
  fixedBatch: null,
};
const CLASSIFIER = Classifier as unknown as ActorClass;
const COLUMNS = (parseOutputs(Classifier.outputs(CONFIG)) as Extract<ReturnType<typeof parseOutputs>, { ok: true }>).columns;
const spec = tabSpecFor(
  {
    files: [{ name: 'model', sha256: '0'.repeat(64), path: '/nonexistent/model.onnx', bytes: 1 }],
    module: null,
    config: CONFIG,
    inputs: 'image',
    preprocess: preprocessSpecFor(8, 8),
    exifTranspose: false,
    columns: COLUMNS,
  },
  'token',
  { numThreads: 1, allowSoftwareGpu: false, recycle: { afterBatches: null, aboveBytes: null } },
);

export interface Harness {
  job: Job;
  clock: FakeClock;
  sink: MemorySink;
  logs: string[];
  /** Connects a tab: hello, and (unless it is refused, or `ready` is false) ready, reporting `speed` images a second if given. */
  join(hostId?: string, c?: Capabilities, ready?: boolean, speed?: number): FakeLink;
  /** Answers batch `batchId` for `link` with a prediction per item (class = item index % classes). */
  answer(link: FakeLink, batchId: number): void;
  /** Lets the feeder and the scheduler run (microtasks and immediates), without moving the clock. */
  settle(): Promise<void>;
}

/** A classifier row: class `cls` at 0.9, the next at 0.05 (what the fake reference predicts for class 1). */
export function okItems(n: number, cls = 1): ItemResult[] {
  const topk = [
    { class: cls, label: `class ${cls}`, score: 0.9 },
    { class: (cls + 1) % NUM_CLASSES, label: `class ${(cls + 1) % NUM_CLASSES}`, score: 0.05 },
  ];
  return Array.from({ length: n }, () => ({ ok: true as const, row: { class: cls, label: `class ${cls}`, score: 0.9, topk } }));
}

let hosts = 0;

/** `urls`: the inputs are https URLs (tabs fetch them); `read` replaces the coordinator's own reads. */
export function startJob(
  items: number,
  options: Partial<JobOptions> = {},
  io: {
    urls?: boolean;
    read?: InputReader;
    verify?: {
      rate: number;
      reference(bytes: Uint8Array[]): Promise<(Float32Array | null)[]>;
      random: () => number;
      /** Checks go to actors of other hosts first (peer checks), as in a real job. */
      peers?: boolean;
    };
  } = {},
): Harness {
  const clock = new FakeClock();
  const sink = new MemorySink();
  const logs: string[] = [];
  const dataset: Dataset = {
    describe: 'fake',
    uniqueIds: true,
    async *items() {
      for (let i = 0; i < items; i++)
        yield { id: `img-${String(i).padStart(4, '0')}`, source: io.urls ? `https://images.test/${i}.png` : `fake://${i}` };
    },
  };
  const job = new Job({
    options: { ...DEFAULT_OPTIONS, ...options },
    actor: {
      spec,
      fixedBatch: null,
      rules: rowRules(CLASSIFIER, { columns: COLUMNS, config: CONFIG }),
      name: 'built-in classifier',
      inputs: 'image',
      files: [],
    },
    dataset,
    sink,
    events: { log: (l) => logs.push(l), progress: () => undefined },
    actorMemory: 2 ** 20,
    maxBatch: 64,
    clock,
    readInput: io.read ?? (async () => ({ bytes: TINY_PNG })),
    verify: io.verify && {
      rate: io.verify.rate,
      random: io.verify.random,
      // The fake reference's probabilities, as the classifier's reference row carries them (logits whose softmax they are).
      reference: referenceRows(
        async (inputs) => (await io.verify!.reference(inputs.map((i) => i.bytes))).map((p) => p && { logits: Array.from(p, Math.log) }),
        async () => ({ bytes: TINY_PNG }),
        async (s) => s,
      ),
      compare: rowComparison({ cls: CLASSIFIER, config: CONFIG, columns: COLUMNS }),
      comparePeers: io.verify.peers ? peerComparison({ cls: CLASSIFIER, config: CONFIG, columns: COLUMNS }) : undefined,
    },
  });
  job.ended.catch(() => undefined);
  job.start(items);
  return {
    job,
    clock,
    sink,
    logs,
    join(hostId = `h${++hosts}`, c = caps(), ready = true, speed?: number) {
      const link = new FakeLink(clock);
      job.onMessage(link, hello(hostId, c));
      const welcome = link.json[0];
      if (ready && welcome?.type === 'welcome' && welcome.status === 'admitted') {
        const ep = welcome.job!.eps[0]!;
        job.onMessage(link, {
          type: 'ready',
          ep,
          probe: speed === undefined ? [] : [{ ep, imagesPerSecond: speed, note: 'test' }],
          loadMs: 1,
          warmupMs: 0,
          modelFromCache: false,
          threads: welcome.job!.numThreads,
        });
      }
      return link;
    },
    answer(link, batchId) {
      const b = link.batches.find((x) => x.batchId === batchId);
      if (!b) throw new Error(`batch ${batchId} was not sent to this link`);
      link.answered.add(batchId);
      job.onMessage(
        link,
        { type: 'result', batchId, items: okItems(b.items), timing: { decodeMs: 1, inferenceMs: 1, totalMs: 2 } },
        clock.now(),
      );
    },
    async settle() {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    },
  };
}

/** Answers every batch sent to `links` that the test has not answered yet, `stepMs` apart, until the job ends. */
export async function runToEnd(h: Harness, links: FakeLink[], stepMs = 100): Promise<void> {
  let finished = false;
  void h.job.ended.then(
    () => (finished = true),
    () => (finished = true),
  );
  for (let round = 0; round < 10_000 && !finished; round++) {
    await h.settle();
    for (const l of links) {
      if (l.closed) continue;
      for (const b of l.batches.filter((x) => !l.answered.has(x.batchId))) {
        h.clock.advance(stepMs);
        h.answer(l, b.batchId);
      }
    }
  }
  await h.settle();
}

/**
 * Runs the job to its end with each link working at its own pace: a batch of n takes n / speed
 * seconds of test time, batches one after another, as a tab runs them. Cancelled batches not yet
 * started are skipped. Returns the job's length in test-clock ms (from the first dispatch).
 */
export async function simulate(h: Harness, workers: { link: FakeLink; speed: number }[]): Promise<number> {
  const start = h.clock.now();
  let finished = false;
  void h.job.ended.then(
    () => (finished = true),
    () => (finished = true),
  );
  const state = workers.map((w) => ({ ...w, busyUntil: start, queued: [] as { batchId: number; doneAt: number }[], seen: 0 }));
  for (let step = 0; step < 1_000_000 && !finished; step++) {
    await h.settle();
    for (const s of state) {
      for (const b of s.link.batches.slice(s.seen)) {
        const cancelled = () => s.link.json.some((m) => m.type === 'cancel' && m.batchId === b.batchId);
        const begin = Math.max(s.busyUntil, b.sentAt);
        if (cancelled() && begin > h.clock.now()) continue;
        s.busyUntil = begin + (b.items * 1000) / s.speed;
        s.queued.push({ batchId: b.batchId, doneAt: s.busyUntil });
      }
      s.seen = s.link.batches.length;
    }
    let next: { s: (typeof state)[number]; q: { batchId: number; doneAt: number } } | null = null;
    for (const s of state) for (const q of s.queued) if (!s.link.closed && (!next || q.doneAt < next.q.doneAt)) next = { s, q };
    if (!next) break;
    // Small steps: the job's once-a-second planning may send new work while time passes.
    const step = Math.min(250, next.q.doneAt - h.clock.now());
    if (step > 0) {
      h.clock.advance(step);
      continue;
    }
    next.s.queued.splice(next.s.queued.indexOf(next.q), 1);
    h.answer(next.s.link, next.q.batchId);
  }
  await h.settle();
  return h.clock.now() - start;
}
