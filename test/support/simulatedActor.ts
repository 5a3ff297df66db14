/**
 * A Node actor that speaks the real protocol over `ws`, for tests that need many tabs without a
 * browser: `real` runs the job's model on onnxruntime-node with the shared preprocessing (its
 * predictions match the reference), `instant` answers at once with a fixed prediction (capacity
 * and fuzz tests). Hooks let a test make one misbehave; every actor can be closed on demand.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket, { type RawData } from 'ws';
import Classifier from '../../actors/classifier.ts';
import { callNode, nodeActor } from '../../coordinator/actor/nodeActor.ts';
import type { Actor, ActorClass } from '../../shared/actorApi.ts';
import { decodeBatchFrame, sliceItems, type BatchInput } from '../../shared/batchFrame.ts';
import { parseOutputs, type Column } from '../../shared/columns.ts';
import {
  parseBatchHeader,
  parseToActor,
  PROTOCOL_VERSION,
  type DeclaredResources,
  type HelloMessage,
  type ItemResult,
  type JobSpec,
  type ResultMessage,
  type ToActorJson,
  type ToCoordinator,
} from '../../shared/protocol.ts';

export type ActorMode = 'real' | 'instant';

/** A batch as the actor received it: its id, its inputs' ids and the bytes of each item. */
export interface ReceivedBatch {
  batchId: number;
  ids: string[];
  /** Each item's bytes, or the URL a tab would fetch. */
  items: BatchInput[];
}

export interface ClosedInfo {
  code: number;
  reason: string;
}

export interface SimulatedActorOptions {
  mode: ActorMode;
  /** Defaults to a fresh id per actor, so each is its own host and never waits for another's slot. */
  hostId?: string;
  /** Resources its host declares (the page URL's &cpus=…&memory=…). */
  declared?: DeclaredResources;
  /** Sent as the upgrade's Origin header (a browser always sends one; Node clients need not). */
  origin?: string;
  /** Milliseconds spent on each batch before answering: stretches a job so a kill lands mid-run. */
  delayMs?: number;
  /** Works at this many images a second: a batch of n takes n / speed seconds, batches one after another. */
  imagesPerSecond?: number;
  /** Reported in `ready` as the EP figure it measured (what a tab's probe would report). */
  reportSpeed?: number;
  /** Replaces the honest answer; call `actor.answer(batch)` for it and send what you like instead. */
  onBatch?(batch: ReceivedBatch, actor: SimulatedActor): void | Promise<void>;
  /** Runs once `ready` is sent (batches may already be on their way). */
  onReady?(actor: SimulatedActor): void | Promise<void>;
}

/** `http(s)://host:port/worker/?token=T` → `ws(s)://host:port/ws?token=T`. */
export function socketUrlFor(workerUrl: string): string {
  const url = new URL(workerUrl);
  const ws = new URL('/ws', url);
  ws.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  ws.searchParams.set('token', url.searchParams.get('token') ?? '');
  return ws.href;
}

/** What a headless Chromium without WebGPU would report. */
export function helloMessage(hostId: string): HelloMessage {
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    hostId,
    capabilities: {
      webgpu: null,
      hardwareConcurrency: 4,
      deviceMemoryGiB: null,
      crossOriginIsolated: true,
      secureContext: true,
      userAgent: 'tabpool-simulated-actor',
    },
    declared: {},
    pinnedEp: null,
  };
}

let nextHost = 0;

/** A host id no other simulated actor has. */
export function freshHostId(prefix = 'sim'): string {
  return `${prefix}-${process.pid}-${++nextHost}`;
}

interface LoadedModel {
  actor: Actor;
  columns: Column[];
  job: JobSpec;
}

export class SimulatedActor {
  readonly ws: WebSocket;
  /** Resolves when the socket closes, with the code and reason the coordinator gave. */
  readonly closed: Promise<ClosedInfo>;
  /** Resolves when the socket is open (rejects when the upgrade is refused). */
  readonly opened: Promise<void>;
  readonly hostId: string;
  /** Every JSON message the coordinator sent, in order. */
  readonly received: ToActorJson[] = [];
  /** Batch ids handed to this actor, in order, and their sizes. */
  readonly batchIds: number[] = [];
  readonly batchSizes: number[] = [];
  /** Batch ids the coordinator cancelled (another actor answered first). */
  readonly cancelled = new Set<number>();
  /** Resolves with the first batch this actor is given. */
  readonly firstBatch: Promise<ReceivedBatch>;
  private gotFirstBatch: (batch: ReceivedBatch) => void = () => undefined;
  /** Messages from the coordinator that broke the protocol, and local failures; a good actor has none. */
  readonly problems: string[] = [];
  job: JobSpec | null = null;
  actorId: string | null = null;
  answered = 0;
  private model: Promise<LoadedModel> | null = null;
  /** Bumped when a standing pool lets its actor go: batches of the earlier actor are dropped. */
  private generation = 0;
  /** Batches run one at a time, as a worker's single session does. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly workerUrl: string,
    readonly options: SimulatedActorOptions,
  ) {
    this.hostId = options.hostId ?? freshHostId();
    this.firstBatch = new Promise((resolve) => (this.gotFirstBatch = resolve));
    this.ws = new WebSocket(socketUrlFor(workerUrl), {
      headers: options.origin ? { Origin: options.origin } : {},
      perMessageDeflate: false,
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
        res.resume();
        this.ws.terminate();
      });
      this.ws.once('error', reject);
    });
    // The refusal above is reported through `opened`; an unawaited rejection must not crash the test.
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
      });
    });
    this.ws.on('error', (err) => this.problems.push(`socket error: ${err.message}`));
    this.ws.on('open', () => this.send({ ...helloMessage(this.hostId), declared: options.declared ?? {} }));
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  /** Sends any value as a JSON text frame (well-formed or not: tests send broken messages). */
  send(msg: ToCoordinator | Record<string, unknown>): void {
    this.sendRaw(JSON.stringify(msg));
  }

  sendRaw(data: string | Uint8Array, binary = typeof data !== 'string'): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  close(code = 1000, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Drops the connection without a close handshake, as a crashed tab does. */
  terminate(): void {
    this.ws.terminate();
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) return this.onBatchFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const parsed = parseToActor(buf.toString('utf8'));
    if (!parsed.ok) {
      this.problems.push(`bad message from the coordinator: ${parsed.error}`);
      return;
    }
    const msg = parsed.value;
    this.received.push(msg);
    switch (msg.type) {
      case 'welcome':
      case 'admission':
        if (msg.type === 'welcome') this.actorId = msg.actorId;
        if (msg.status === 'admitted' && msg.job) this.admit(msg.job);
        if (msg.status === 'idle') this.letGo();
        return;
      case 'shutdown':
        return;
      case 'cancel':
        this.cancelled.add(msg.batchId);
        return;
      case 'threads': // A simulated actor runs no wasm: it answers as a tab that followed the plan does.
        return this.send({ type: 'threads', threads: msg.numThreads });
      default: {
        const check: never = msg;
        this.problems.push(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  /** A standing pool took it back (idle): as a tab does, it drops its actor and any batch it was on. */
  private letGo(): void {
    this.generation++;
    this.job = null;
    this.model = null;
    this.cancelled.clear();
  }

  private admit(job: JobSpec): void {
    this.job = job;
    const started = performance.now();
    const loading = this.options.mode === 'real' ? this.loadModel(job) : Promise.resolve(null);
    void loading.then(
      async () => {
        const ep = job.eps[0]!;
        const probe = this.options.reportSpeed !== undefined ? [{ ep, imagesPerSecond: this.options.reportSpeed, note: 'simulated' }] : [];
        const timing = { loadMs: performance.now() - started, warmupMs: 0, modelFromCache: false };
        this.send({ type: 'ready', ep, probe, ...timing, threads: job.numThreads });
        await this.options.onReady?.(this);
      },
      (err: unknown) => {
        this.problems.push(`model load failed: ${(err as Error).message}`);
        this.send({ type: 'actor-error', code: 'MODEL_LOAD_FAILED', message: (err as Error).message.slice(0, 2000) });
      },
    );
  }

  /** A job file fetched as a tab fetches it (sha256 checked) to os.tmpdir()/name, renamed into place: others may read it. */
  private async onDisk(ref: { url: string; sha256: string }, name: string): Promise<string> {
    const file = path.join(os.tmpdir(), name);
    const url = new URL(ref.url, this.workerUrl);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url.pathname} answered ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== ref.sha256) throw new Error(`${url.pathname} has sha256 ${sha}, not the job's ${ref.sha256}`);
    const aside = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await fs.writeFile(aside, bytes);
    await fs.rename(aside, file);
    return file;
  }

  /** The job's actor, made as a tab makes it (here on onnxruntime-node): its files and the module fetched, `init` run. */
  private loadModel(job: JobSpec): Promise<LoadedModel> {
    this.model ??= (async () => {
      const files = [];
      for (const f of job.files) files.push({ name: f.name, path: await this.onDisk(f, `tabpool-sim-file-${f.sha256}`) });
      let cls = Classifier as unknown as ActorClass;
      if (job.actor.kind === 'module') {
        const file = await this.onDisk(job.actor, `tabpool-sim-actor-${job.actor.sha256}.mjs`);
        cls = ((await import(pathToFileURL(file).href)) as { default: ActorClass }).default;
      }
      const parsed = parseOutputs(job.outputs);
      if (!parsed.ok) throw new Error(parsed.error);
      return { actor: await nodeActor(cls, { files, config: job.config, role: 'tab' }), columns: parsed.columns, job };
    })();
    return this.model;
  }

  private onBatchFrame(frame: Uint8Array): void {
    let batch: ReceivedBatch;
    try {
      const { header, payloadOffset } = decodeBatchFrame(frame);
      const parsed = parseBatchHeader(header);
      if (!parsed.ok) throw new Error(parsed.error);
      batch = { batchId: parsed.value.batchId, ids: parsed.value.ids, items: sliceItems(frame, payloadOffset, parsed.value) };
    } catch (err) {
      this.problems.push(`bad batch frame: ${(err as Error).message}`);
      return;
    }
    this.batchIds.push(batch.batchId);
    this.batchSizes.push(batch.items.length);
    this.gotFirstBatch(batch);
    const generation = this.generation;
    const next = this.chain.then(async () => {
      // A batch cancelled before it started is skipped, as a tab skips it; so is one of an actor let go since.
      if (this.cancelled.has(batch.batchId) || generation !== this.generation) return;
      if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
      if (this.options.imagesPerSecond)
        await new Promise((r) => setTimeout(r, (batch.items.length * 1000) / this.options.imagesPerSecond!));
      if (!this.isOpen || this.cancelled.has(batch.batchId) || generation !== this.generation) return;
      if (this.options.onBatch) return this.options.onBatch(batch, this);
      let answer: ResultMessage;
      try {
        answer = await this.answer(batch);
      } catch (err) {
        // As a tab does: the actor's own code failing is that batch's ACTOR_ERROR, to retry and isolate.
        this.send({
          type: 'batch-failed',
          batchId: batch.batchId,
          code: 'ACTOR_ERROR',
          message: `the actor's call failed: ${(err as Error).message}`,
        });
        return;
      }
      if (generation !== this.generation) return;
      this.send(answer);
      this.answered++;
    });
    this.chain = next.catch((err: unknown) => void this.problems.push(`batch ${batch.batchId}: ${(err as Error).message}`));
  }

  /** The honest result for a batch, per this actor's mode. */
  async answer(batch: ReceivedBatch): Promise<ResultMessage> {
    const job = this.job;
    if (!job) throw new Error(`batch ${batch.batchId} arrived before the job`);
    const started = performance.now();
    if (this.options.mode === 'instant') {
      return {
        type: 'result',
        batchId: batch.batchId,
        items: batch.items.map(() => instantItem(job)),
        timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 },
      };
    }
    const { actor, columns } = await this.model!;
    const results: (ItemResult | null)[] = batch.items.map(() => null);
    const inputs: { id: string; bytes: Uint8Array; at: number }[] = [];
    for (const [i, item] of batch.items.entries()) {
      if (!('url' in item)) {
        inputs.push({ id: batch.ids[i]!, bytes: item, at: i });
        continue;
      }
      // As a tab does: fetch it, and say so when that fails, so the coordinator fetches it instead.
      const res = await fetch(item.url).catch((err: Error) => err);
      if (res instanceof Error || !res.ok) {
        results[i] = {
          ok: false,
          code: 'TAB_FETCH_FAILED',
          message: `could not fetch ${item.url}: ${res instanceof Error ? res.message : `HTTP ${res.status}`}`,
        };
        continue;
      }
      inputs.push({ id: batch.ids[i]!, bytes: new Uint8Array(await res.arrayBuffer()), at: i });
    }
    const decodeMs = performance.now() - started;
    const inferStart = performance.now();
    const rows = inputs.length > 0 ? await callNode(actor, columns, inputs, job) : [];
    for (const [j, input] of inputs.entries()) {
      const row = rows[j];
      results[input.at] = row ? { ok: true, row } : { ok: false, code: 'CORRUPT_IMAGE', message: `${input.id} could not be decoded` };
    }
    const inferenceMs = performance.now() - inferStart;
    return {
      type: 'result',
      batchId: batch.batchId,
      items: results as ItemResult[],
      timing: { decodeMs, inferenceMs, totalMs: performance.now() - started },
    };
  }
}

/** A fixed, plausible row for the declared columns: class 0 first for a top-k, zeros, empty strings. */
function instantItem(job: JobSpec): ItemResult {
  const parsed = parseOutputs(job.outputs);
  if (!parsed.ok) throw new Error(parsed.error);
  const row: Record<string, unknown> = {};
  for (const c of parsed.columns) {
    if (c.spec.kind === 'vector') row[c.name] = new Array(c.spec.length).fill(0);
    else if (c.spec.type === 'topk') row[c.name] = [{ class: 0, label: 'class 0', score: 0.5 }];
    else if (c.spec.type === 'bool') row[c.name] = false;
    else if (c.spec.type === 'string') row[c.name] = c.name === 'label' ? 'class 0' : '';
    else if (c.spec.type === 'json') row[c.name] = null;
    else row[c.name] = c.name === 'score' ? 0.5 : 0;
  }
  return { ok: true, row };
}

export interface ActorGroup {
  actors: SimulatedActor[];
  /** Resolves when every actor's socket has closed. */
  closed: Promise<ClosedInfo[]>;
}

/** Connects `count` actors to a worker URL and waits for their sockets to open. */
export async function startActors(workerUrl: string, count: number, options: SimulatedActorOptions): Promise<ActorGroup> {
  const actors = Array.from({ length: count }, () => new SimulatedActor(workerUrl, options));
  await Promise.all(actors.map((a) => a.opened));
  return { actors, closed: Promise.all(actors.map((a) => a.closed)) };
}
