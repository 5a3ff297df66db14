/**
 * A Job built in-process, with fake actor links, an in-memory output and a clock the test moves:
 * scheduling, deadlines, requeues and the join timeout are tested without processes or sockets.
 */
import { PNG } from 'pngjs';
import { decodeBatchFrame } from '../../shared/batchFrame.ts';
import type { CloseCode } from '../../shared/closeCodes.ts';
import { PROTOCOL_VERSION, parseBatchHeader, type Capabilities, type ExecutionProvider, type HelloMessage, type ItemResult, type JobSpec, type ToActorJson } from '../../shared/protocol.ts';
import type { Dataset } from '../../coordinator/io/dataset.ts';
import type { OutputRow, RowSink } from '../../coordinator/io/outputRow.ts';
import type { JobOptions } from '../../coordinator/jobOptions.ts';
import type { ActorLink } from '../../coordinator/pool/actor.ts';
import { Job } from '../../coordinator/scheduler/job.ts';
import { FakeClock } from './fakeClock.ts';

/** A valid 8×8 PNG: every fake input is these bytes. */
export const TINY_PNG = new Uint8Array(PNG.sync.write(Object.assign(new PNG({ width: 8, height: 8 }), { data: Buffer.alloc(8 * 8 * 4, 128) })));

export const DEFAULT_OPTIONS: JobOptions = {
  model: 'fake',
  data: null,
  out: 'memory',
  format: 'jsonl',
  overwrite: false,
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
  batchTimeoutMs: null,
  maxRetries: 3,
  maxMessagesPerSecond: 2000,
  logits: false,
  resume: false,
  cacheDir: '.',
  token: null,
  tlsCert: null,
  tlsKey: null,
  quiet: true,
  json: false,
  summaryJson: null,
};

export class MemorySink implements RowSink {
  readonly done = new Set<string>();
  readonly rows: OutputRow[] = [];
  async write(rows: readonly OutputRow[]): Promise<void> {
    this.rows.push(...rows);
  }
  async flushed(): Promise<void> {}
}

/** One fake tab: what the job sent it, and how it closed it. */
export class FakeLink implements ActorLink {
  readonly json: ToActorJson[] = [];
  /** Batches sent to it: id and item count, in order. */
  readonly batches: { batchId: number; items: number }[] = [];
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
    this.batches.push({ batchId: parsed.value.batchId, items: parsed.value.items.length });
  }
  close(code: CloseCode, reason: string): void {
    this.closed ??= { code, reason };
  }
}

export function caps(gpu: 'none' | 'software' | 'hardware' = 'none'): Capabilities {
  return {
    webgpu: gpu === 'none' ? null : { vendor: 'v', architecture: gpu === 'software' ? 'swiftshader' : 'ampere', device: '', description: '', isSoftware: gpu === 'software', limits: {} },
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

function spec(ep: ExecutionProvider): JobSpec {
  return { modelUrl: '/model/x.onnx', modelSha256: '0'.repeat(64), modelBytes: 1, ep, inputName: 'input', outputName: 'logits', inputHeight: 8, inputWidth: 8, numClasses: NUM_CLASSES, topK: 2, numThreads: 1, returnLogits: false, allowSoftwareGpu: false };
}

export interface Harness {
  job: Job;
  clock: FakeClock;
  sink: MemorySink;
  logs: string[];
  /** Connects a tab: hello, and (unless it is refused) ready. */
  join(hostId?: string, c?: Capabilities, ready?: boolean): FakeLink;
  /** Answers batch `batchId` for `link` with a prediction per item (class = item index % classes). */
  answer(link: FakeLink, batchId: number): void;
  /** Lets the feeder and the scheduler run (microtasks and immediates), without moving the clock. */
  settle(): Promise<void>;
}

export function okItems(n: number, cls = 1): ItemResult[] {
  return Array.from({ length: n }, () => ({ ok: true as const, topk: [{ class: cls, score: 0.9 }, { class: (cls + 1) % NUM_CLASSES, score: 0.05 }] }));
}

let hosts = 0;

export function startJob(items: number, options: Partial<JobOptions> = {}): Harness {
  const clock = new FakeClock();
  const sink = new MemorySink();
  const logs: string[] = [];
  const dataset: Dataset = {
    describe: 'fake',
    uniqueIds: true,
    async *items() {
      for (let i = 0; i < items; i++) yield { id: `img-${String(i).padStart(4, '0')}`, source: `fake://${i}` };
    },
  };
  const job = new Job({
    options: { ...DEFAULT_OPTIONS, ...options },
    model: { numClasses: NUM_CLASSES, labels: Array.from({ length: NUM_CLASSES }, (_, i) => `class ${i}`), spec },
    dataset,
    sink,
    events: { log: (l) => logs.push(l), progress: () => undefined },
    actorMemory: 2 ** 20,
    clock,
    readInput: async () => ({ bytes: TINY_PNG }),
  });
  job.done.catch(() => undefined);
  job.start(items);
  return {
    job,
    clock,
    sink,
    logs,
    join(hostId = `h${++hosts}`, c = caps(), ready = true) {
      const link = new FakeLink();
      job.onMessage(link, hello(hostId, c));
      const welcome = link.json[0];
      if (ready && welcome?.type === 'welcome' && welcome.status === 'admitted') {
        job.onMessage(link, { type: 'ready', ep: welcome.job!.ep, loadMs: 1, warmupMs: 1, modelFromCache: false });
      }
      return link;
    },
    answer(link, batchId) {
      const b = link.batches.find((x) => x.batchId === batchId);
      if (!b) throw new Error(`batch ${batchId} was not sent to this link`);
      link.answered.add(batchId);
      job.onMessage(link, { type: 'result', batchId, items: okItems(b.items), timing: { decodeMs: 1, inferenceMs: 1, totalMs: 2 } }, clock.now());
    },
    async settle() {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    },
  };
}

/** Answers every batch sent to `links` that the test has not answered yet, `stepMs` apart, until the job ends. */
export async function runToEnd(h: Harness, links: FakeLink[], stepMs = 100): Promise<void> {
  let finished = false;
  void h.job.done.then(() => (finished = true), () => (finished = true));
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
