/**
 * One inference job, end to end: the dataset streamed into batches, batches handed to the pool's
 * ready actors (fewest in flight first), results checked and written as rows, failures requeued.
 * The job ends when every input has exactly one row.
 */
import { formatError, TabpoolError, type SerializedError } from '../shared/errors.ts';
import { encodeBatchFrame } from '../shared/batchFrame.ts';
import { PROTOCOL_VERSION, type Capabilities, type JobSpec, type ResultMessage, type ToCoordinator } from '../shared/protocol.ts';
import { ActorPool, type Actor, type ActorLink, type PoolPolicy } from './actorPool.ts';
import { CLOSE } from './actorSocket.ts';
import { BatchQueue, type Batch, type FailureBlame } from './batchQueue.ts';
import type { Dataset } from './dataset.ts';
import type { JobOptions } from './jobOptions.ts';
import type { ResolvedModel } from './modelSource.ts';
import { errorRow, predictionRow, type OutputRow } from './outputRow.ts';
import type { OutputSink } from './outputSink.ts';
import type { Resources } from './resources.ts';
import { DatasetFeeder } from './datasetFeeder.ts';
import { LatencyStats } from './latencyStats.ts';

export interface JobStats {
  total: number | null;
  /** Rows written this run (predictions + errors). */
  done: number;
  errors: number;
  /** Rows already in the output when the job resumed. */
  skipped: number;
  startedAt: number;
  firstPredictionAt: number | null;
  /** When dispatch began (the pool's minimum was ready): the start of the steady-state throughput. */
  workStartedAt: number | null;
  /** Batch frames and their bytes sent, and the image bytes inside them (wire overhead = the difference). */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number };
  /** Time the actors spent decoding and preprocessing, and the images that covered. */
  decodeMs: number;
  decodedImages: number;
  latency: LatencyStats;
  /** The coordinator's own cost per dispatch: a result handled to the next batch on the wire. */
  dispatchLatency: LatencyStats;
  finishedAt: number | null;
  perActor: Map<string, { images: number; ep: string; host: string }>;
}

export interface JobEvents {
  log(line: string): void;
  progress(stats: JobStats): void;
}

/** An actor that failed this many batches in a row is evicted and its resources returned. */
const MAX_ACTOR_FAILURES = 3;
/** Before an actor has finished a batch we cannot know its speed: SwiftShader needs ~8 s an image. */
const FIRST_BATCH_DEADLINE_MS = 10 * 60_000;
/** Once measured, a batch may take this many times the actor's own average before it counts as frozen. */
const DEADLINE_FACTOR = 10;
const MIN_DEADLINE_MS = 60_000;

export class Job {
  readonly pool: ActorPool;
  readonly queue: BatchQueue;
  readonly stats: JobStats;
  private readonly links = new Map<ActorLink, Actor>();
  private feederDone = false;
  private readonly feeder: DatasetFeeder;
  private started = false;
  private draining = false;
  private finished = false;
  private resolveDone!: (v: void) => void;
  private rejectDone!: (e: unknown) => void;
  readonly done: Promise<void>;
  private readonly window: number;
  private joinTimer: NodeJS.Timeout | null = null;
  /** Tabs that joined but could not become actors (model load failed, no WebGPU…), for the give-up message. */
  private readonly failedActors: string[] = [];
  private readonly deadlineTimer: NodeJS.Timeout;

  constructor(
    readonly options: JobOptions,
    readonly model: ResolvedModel,
    dataset: Dataset,
    private readonly sink: OutputSink,
    private readonly events: JobEvents,
    private readonly actorMemory: number,
    private readonly modelUrl: (sha: string) => string,
  ) {
    this.pool = new ActorPool(this.policy());
    this.queue = new BatchQueue(options.maxRetries);
    this.window = Math.max(4, options.pool.max * options.maxTasksInFlight * 2);
    this.feeder = new DatasetFeeder(dataset, {
      batchSize: options.batchSize,
      window: this.window,
      skip: sink.done,
      pendingBatches: () => this.queue.pendingCount,
      addBatch: (items) => {
        this.queue.add(items);
        this.schedule();
      },
      writeErrors: (rows) => this.writeRows(rows),
      stopped: () => this.finished || this.draining,
      log: (line) => this.events.log(line),
    });
    this.stats = { total: null, done: 0, errors: 0, skipped: sink.done.size, startedAt: Date.now(), firstPredictionAt: null, workStartedAt: null, wire: { batches: 0, images: 0, frameBytes: 0, itemBytes: 0 }, decodeMs: 0, decodedImages: 0, latency: new LatencyStats(), dispatchLatency: new LatencyStats(), finishedAt: null, perActor: new Map() };
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.deadlineTimer = setInterval(() => this.checkDeadlines(performance.now()), 1000);
    this.deadlineTimer.unref();
  }

  /** How long `actor` may hold a batch of `items`: adapted to its own speed, as measured here. */
  deadlineFor(actor: Actor, items: number): number {
    if (this.options.batchTimeoutMs !== null) return this.options.batchTimeoutMs;
    if (actor.imagesDone === 0) return FIRST_BATCH_DEADLINE_MS;
    // Round trips include waiting behind the actor's other batch, so this is already per slot.
    const msPerImage = actor.roundTripMs / actor.imagesDone;
    return Math.max(MIN_DEADLINE_MS, DEADLINE_FACTOR * msPerImage * items);
  }

  /**
   * A tab that is frozen (asleep, hung, stuck GPU) answers nothing, and one stuck loading the model
   * holds a pool slot: evict either, and requeue the work.
   */
  private checkDeadlines(now: number): void {
    for (const f of this.queue.inFlight.values()) {
      const actor = this.pool.actors.get(f.actorId);
      if (!actor) continue;
      const limit = this.deadlineFor(actor, f.batch.items.length);
      if (now - f.sentAt > limit) {
        this.events.log(`${actor.id} missed the deadline for batch ${f.batch.id} (${(limit / 1000).toFixed(0)}s): evicting it`);
        this.evict(actor, CLOSE.evicted, `no answer to batch ${f.batch.id} within ${(limit / 1000).toFixed(0)}s`);
        return;
      }
    }
    const wall = Date.now();
    for (const actor of this.pool.actors.values()) {
      if (actor.state === 'loading' && wall - actor.joinedAt > FIRST_BATCH_DEADLINE_MS) {
        this.events.log(`${actor.id} did not finish loading the model in ${FIRST_BATCH_DEADLINE_MS / 60_000} min: evicting it`);
        this.evict(actor, CLOSE.evicted, 'model load took too long');
        return;
      }
    }
  }

  private policy(): PoolPolicy {
    const o = this.options;
    return {
      pool: o.pool,
      allowSoftwareGpu: o.allowSoftwareGpu,
      chooseEp: (caps: Capabilities) => {
        const gpu = caps.webgpu;
        const usableGpu = gpu !== null && (!gpu.isSoftware || o.allowSoftwareGpu);
        if (o.ep === 'wasm') return { ep: 'wasm' };
        // An explicit GPU budget means GPU actors: auto falls back to wasm only when none was asked for.
        if (o.ep === 'auto' && (usableGpu || !(o.numGpus !== null && o.numGpus > 0))) return { ep: usableGpu ? 'webgpu' : 'wasm' };
        if (usableGpu) return { ep: 'webgpu' };
        return {
          ep: null,
          reason: gpu
            ? `this browser's only WebGPU adapter is software (${gpu.vendor} ${gpu.architecture}), so its host has 0 GPUs and each actor needs ${o.numGpus ?? 1}; rerun with --allow-software-gpu to accept it, or --ep wasm --num-gpus 0`
            : `this browser has no WebGPU adapter, so its host has 0 GPUs and each actor needs ${o.numGpus ?? 1}; use a WebGPU browser (Chrome/Edge 113+, over https or localhost), or rerun with --ep wasm --num-gpus 0`,
        };
      },
      budgetFor: (ep): Resources => ({
        gpus: ep === 'webgpu' ? (o.numGpus ?? 1) : 0,
        cpus: o.numCpus ?? 0,
        memoryBytes: this.actorMemory,
      }),
    };
  }

  jobSpec(actor: Actor): JobSpec {
    const m = this.model;
    return {
      modelUrl: this.modelUrl(m.sha256),
      modelSha256: m.sha256,
      modelBytes: m.bytes.byteLength,
      ep: actor.ep!,
      inputName: m.info.inputName,
      outputName: m.info.outputName,
      inputHeight: m.info.inputShape.height,
      inputWidth: m.info.inputShape.width,
      numClasses: m.info.numClasses,
      topK: Math.min(this.options.topK, m.info.numClasses),
      numThreads: Math.max(1, Math.round(this.options.numCpus ?? 1)),
      returnLogits: this.options.logits,
      allowSoftwareGpu: this.options.allowSoftwareGpu,
    };
  }

  /** Starts reading the dataset and the join timer. */
  start(total: number | null): void {
    this.stats.total = total === null ? null : total - this.stats.skipped;
    void this.feed().catch((err: unknown) => this.fail(err));
    this.armJoinTimer();
  }

  private armJoinTimer(): void {
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.joinTimer = setTimeout(() => this.onJoinTimeout(), this.options.joinTimeoutMs);
    this.joinTimer.unref();
  }

  private onJoinTimeout(): void {
    if (this.finished) return;
    const ready = this.pool.ready().length;
    if (ready > 0) {
      if (!this.started) {
        this.events.log(`--join-timeout: starting with ${ready} ready actor(s), fewer than the pool's minimum of ${this.options.pool.min}`);
        this.startWork();
      }
      return;
    }
    if (this.pool.active().length > 0) {
      // Actors are still loading the model (WebGPU shader compilation can take a while): wait on.
      this.armJoinTimer();
      return;
    }
    this.fail(this.noActorsError(`no actor was ready after --join-timeout ${this.options.joinTimeoutMs / 1000}s.`));
  }

  private noActorsError(headline: string): TabpoolError {
    const refused = [...this.pool.rejected(), ...this.pool.standby()].map((a) => `  ${a.id} (host ${a.hostId}): ${a.reason}`);
    const lines = [...this.failedActors, ...refused];
    return new TabpoolError(
      'NO_ACTORS',
      headline + (lines.length ? ` Tabs that joined could not become actors:\n${lines.join('\n')}` : ' No tab joined: open the worker URL in a browser, or use --launch K.'),
    );
  }

  /**
   * With --launch K and no one else expected, K tabs that all failed mean nothing will change:
   * say why now instead of after --join-timeout.
   */
  private failIfNoneCanJoin(): void {
    const launch = this.options.launch;
    if (launch === 0 || this.failedActors.length + this.pool.rejected().length < launch) return;
    if (this.pool.actors.size > this.pool.rejected().length) return;
    this.fail(this.noActorsError(`all ${launch} launched tab(s) failed to become actors.`));
  }

  // ------------------------------------------------------------------ reading the dataset

  private async feed(): Promise<void> {
    await this.feeder.run();
    this.feederDone = true;
    this.schedule();
    this.checkDone();
  }

  // ------------------------------------------------------------------ actors

  onMessage(link: ActorLink, msg: ToCoordinator): void {
    const actor = this.links.get(link);
    if (msg.type === 'hello') {
      if (actor) throw new Error('hello sent twice');
      this.onHello(link, msg.protocol, msg.hostId, msg.capabilities, msg.declared);
      return;
    }
    if (!actor) throw new Error(`${msg.type} before hello`);
    switch (msg.type) {
      case 'ready':
        return this.onReady(actor, msg.ep, msg.loadMs, msg.warmupMs, msg.modelFromCache);
      case 'result':
        return this.onResult(actor, msg);
      case 'batch-failed':
        return this.onBatchFailed(actor, msg.batchId, { code: msg.code, message: msg.message });
      case 'actor-error':
        this.events.log(`${actor.id} (host ${actor.hostId}) failed: ${formatError(msg)}`);
        this.failedActors.push(`  ${actor.id} (host ${actor.hostId}): ${formatError(msg)}`);
        this.evict(actor, CLOSE.normal, `actor failed: ${msg.code}`);
        this.failIfNoneCanJoin();
        return;
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  private onHello(link: ActorLink, protocol: number, hostId: string, caps: Capabilities, declared: ToCoordinatorHello['declared']): void {
    if (protocol !== PROTOCOL_VERSION) {
      link.sendJson({ type: 'shutdown', reason: `this page speaks protocol ${protocol}, the coordinator ${PROTOCOL_VERSION}; reload the page` });
      link.close(CLOSE.policyViolation, 'protocol version mismatch');
      return;
    }
    if (this.finished || this.draining) {
      link.sendJson({ type: 'shutdown', reason: 'the job is finishing; no new actors are needed' });
      link.close(CLOSE.jobDone, 'job finishing');
      return;
    }
    const { actor, admission } = this.pool.join(link, hostId, caps, declared, Date.now());
    this.links.set(link, actor);
    if (admission.status === 'rejected') queueMicrotask(() => this.failIfNoneCanJoin());
    const job = admission.status === 'admitted' ? this.jobSpec(actor) : null;
    link.sendJson({ type: 'welcome', protocol: PROTOCOL_VERSION, actorId: actor.id, status: admission.status, reason: admission.status === 'admitted' ? null : admission.reason, job });
    this.events.log(`${actor.id} joined from host ${hostId}: ${admission.status}${admission.status === 'admitted' ? ` (${actor.ep})` : ` — ${admission.reason}`}`);
  }

  private onReady(actor: Actor, ep: string, loadMs: number, warmupMs: number, fromCache: boolean): void {
    // A repeated ready changes nothing; a ready from a tab that was never admitted is a lie.
    if (actor.state === 'ready') return;
    if (actor.state !== 'loading') throw new Error(`ready from ${actor.id}, which is ${actor.state}, not admitted`);
    this.pool.markReady(actor, Date.now());
    this.stats.perActor.set(actor.id, { images: 0, ep, host: actor.hostId });
    this.events.log(`${actor.id} ready on ${ep}: model ${fromCache ? 'from cache' : 'downloaded'}, loaded in ${(loadMs / 1000).toFixed(1)}s, warm-up ${(warmupMs / 1000).toFixed(1)}s`);
    if (!this.started && this.pool.ready().length >= this.options.pool.min) this.startWork();
    else this.schedule();
  }

  private onResult(actor: Actor, msg: ResultMessage): void {
    const arrived = performance.now();
    const sentAt = this.queue.inFlight.get(msg.batchId)?.sentAt;
    const batch = this.queue.complete(msg.batchId, actor.id);
    if (!batch) throw new Error(`result for batch ${msg.batchId}, which this actor does not hold`);
    if (sentAt) this.stats.latency.add(performance.now() - sentAt);
    const problem = this.checkResult(batch, msg);
    if (problem) {
      // Back in flight under this actor so the eviction below requeues it with the rest of its work.
      this.queue.inFlight.set(batch.id, { batch, actorId: actor.id, sentAt: performance.now() });
      this.events.log(`closing ${actor.id}: bad result: ${problem}`);
      this.evict(actor, CLOSE.badResult, `bad result: ${problem}`.slice(0, 100));
      return;
    }
    actor.inFlight.delete(batch.id);
    actor.failures = 0;
    actor.batchesDone++;
    actor.imagesDone += batch.items.length;
    if (sentAt) actor.roundTripMs += performance.now() - sentAt;
    actor.lastResultAt = Date.now();
    this.stats.decodeMs += msg.timing.decodeMs;
    this.stats.decodedImages += batch.items.length;
    const per = this.stats.perActor.get(actor.id);
    if (per) per.images += batch.items.length;
    const rows = batch.items.map((item, i) => {
      const r = msg.items[i]!;
      return r.ok ? predictionRow(item.id, r.topk, this.model.labels, r.logits) : errorRow(item.id, { code: r.code, message: `${item.id}: ${r.message}` });
    });
    if (this.stats.firstPredictionAt === null) this.stats.firstPredictionAt = Date.now();
    this.writeThenCheck(rows);
    const before = this.stats.wire.batches;
    this.schedule();
    if (this.stats.wire.batches > before) this.stats.dispatchLatency.add(performance.now() - arrived);
  }

  /** What is wrong with a result, or null: item count, class range, top-k length, logits length. */
  private checkResult(batch: Batch, msg: ResultMessage): string | null {
    if (msg.items.length !== batch.items.length) return `${msg.items.length} items for a batch of ${batch.items.length}`;
    const classes = this.model.info.numClasses;
    for (const [i, r] of msg.items.entries()) {
      if (!r.ok) continue;
      if (r.topk.length > this.options.topK) return `items.${i}.topk has ${r.topk.length} entries, more than --top-k ${this.options.topK}`;
      for (const e of r.topk) if (e.class >= classes) return `items.${i}: class ${e.class} out of range (the model has ${classes})`;
      if (r.logits && r.logits.length !== classes) return `items.${i}.logits has ${r.logits.length} values, expected ${classes}`;
      if (!this.options.logits && r.logits) return `items.${i}.logits sent but not requested`;
    }
    return null;
  }

  private onBatchFailed(actor: Actor, batchId: number, error: SerializedError): void {
    const held = this.queue.inFlight.get(batchId);
    if (!held || held.actorId !== actor.id) throw new Error(`batch-failed for batch ${batchId}, which this actor does not hold`);
    actor.inFlight.delete(batchId);
    this.events.log(`${actor.id} failed batch ${batchId}: ${formatError(error)}`);
    this.requeue(batchId, error, error.code === 'DEVICE_LOST' ? 'actor' : 'input');
    actor.failures++;
    if (error.code === 'DEVICE_LOST' || actor.failures >= MAX_ACTOR_FAILURES) {
      this.evict(actor, CLOSE.evicted, error.code === 'DEVICE_LOST' ? 'GPU device lost' : `${actor.failures} failed batches in a row`);
    }
    this.schedule();
    this.checkDone();
  }

  /** Writes rows in the background; a failed write (disk full) fails the job instead of losing them. */
  private writeThenCheck(rows: OutputRow[]): void {
    this.writeRows(rows).then(
      () => this.checkDone(),
      (err: unknown) => this.fail(new TabpoolError('JOB_FAILED', `writing ${this.options.out} failed: ${(err as Error).message}`)),
    );
  }

  private requeue(batchId: number, error: SerializedError, blame: FailureBlame = 'input'): void {
    if (this.finished) return;
    const outcome = this.queue.fail(batchId, error, blame);
    if (outcome?.kind === 'give-up') {
      this.writeThenCheck([errorRow(outcome.item.id, { code: 'RETRIES_EXHAUSTED', message: `${outcome.item.id}: failed on every try (--max-retries ${this.options.maxRetries}); last error ${formatError(error)}` })]);
    }
  }

  onClose(link: ActorLink, code: number, reason: string): void {
    const actor = this.links.get(link);
    if (!actor) return;
    this.links.delete(link);
    this.dropActor(actor, `socket closed (${code}${reason ? ` ${reason}` : ''})`);
  }

  private evict(actor: Actor, code: number, reason: string): void {
    actor.link.close(code, reason);
    this.dropActor(actor, `socket closed (${code} ${reason})`);
  }

  private dropActor(actor: Actor, why: string): void {
    if (actor.state === 'gone') return;
    const lost = this.queue.heldBy(actor.id);
    for (const f of lost) this.requeue(f.batch.id, { code: 'JOB_FAILED', message: `${actor.id} left mid-batch: ${why}` }, 'actor');
    actor.inFlight.clear();
    const promoted = this.pool.leave(actor);
    if (!this.finished) this.events.log(`${actor.id} left: ${why}${lost.length ? `; ${lost.length} batch(es) requeued` : ''}`);
    for (const p of promoted) {
      p.link.sendJson({ type: 'admission', status: 'admitted', reason: null, job: this.jobSpec(p) });
      this.events.log(`${p.id} promoted from standby`);
    }
    if (this.pool.active().length === 0 && !this.finished) this.armJoinTimer();
    this.schedule();
    // Draining, the batch this actor held may have been the last one in flight.
    this.checkDone();
  }

  // ------------------------------------------------------------------ dispatch

  private startWork(): void {
    this.started = true;
    this.stats.workStartedAt = Date.now();
    this.schedule();
  }

  /** Gives pending batches to ready actors: the one with the fewest in flight first. */
  schedule(): void {
    if (!this.started || this.finished || this.draining) return;
    const max = this.options.maxTasksInFlight;
    while (this.queue.pendingCount > 0) {
      // A plain scan, no arrays built: this runs once per dispatch, with up to thousands of actors.
      let best: Actor | null = null;
      let ready = 0;
      for (const a of this.pool.actors.values()) {
        if (a.state !== 'ready') continue;
        ready++;
        if (a.inFlight.size >= max) continue;
        if (!best || a.inFlight.size < best.inFlight.size || (a.inFlight.size === best.inFlight.size && a.lastDispatchAt < best.lastDispatchAt)) best = a;
      }
      if (!best) break;
      if (this.feederDone) {
        // The tail: everything left is known. Keep batches small enough that every actor's slots
        // stay busy to the end, instead of one finishing a full batch while the others idle.
        this.queue.splitFront(Math.floor(this.queue.remainingItems() / (ready * max * 2)));
      }
      const now = performance.now();
      const batch = this.queue.take(best.id, now)!;
      best.inFlight.add(batch.id);
      best.lastDispatchAt = now;
      const frame = encodeBatchFrame(batch.id, batch.items.map((i) => i.bytes));
      best.link.sendBinary(frame);
      const wire = this.stats.wire;
      wire.batches++;
      wire.images += batch.items.length;
      wire.frameBytes += frame.byteLength;
      for (const i of batch.items) wire.itemBytes += i.bytes.byteLength;
    }
    if (this.queue.pendingCount < this.window) this.feeder.wake();
  }

  private async writeRows(rows: OutputRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.sink.write(rows);
    this.stats.done += rows.length;
    for (const r of rows) if (r.error) this.stats.errors++;
    this.events.progress(this.stats);
  }

  private checkDone(): void {
    if (this.finished || !this.feederDone) return;
    // Draining: batches not yet sent stay unsent (a --resume does them); only in-flight ones finish.
    if (this.draining ? this.queue.inFlight.size > 0 : !this.queue.empty) return;
    this.finish();
  }

  /** Ctrl-C: stop reading, let in-flight batches finish, then end. */
  drain(): void {
    if (this.draining || this.finished) return;
    this.draining = true;
    this.feederDone = true;
    this.feeder.wake();
    this.checkDone();
  }

  private finish(): void {
    if (this.finished) return;
    this.stop(this.draining ? 'the job was interrupted; its output can be resumed with --resume' : 'the job is done; thank you — this tab can be closed');
    this.stats.finishedAt = Date.now();
    // Resolve once every row is on disk, so whoever awaits `done` reads a complete output.
    this.sink.flushed().then(() => this.resolveDone(), (err: unknown) => this.rejectDone(err));
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.stop(`the job failed: ${(err as Error).message}`);
    this.rejectDone(err);
  }

  /** No more work: timers off, every tab told why and closed. */
  private stop(reason: string): void {
    this.finished = true;
    clearInterval(this.deadlineTimer);
    if (this.joinTimer) clearTimeout(this.joinTimer);
    for (const a of [...this.pool.actors.values()]) {
      a.link.sendJson({ type: 'shutdown', reason });
      a.link.close(CLOSE.jobDone, 'job done');
    }
  }

  get interrupted(): boolean {
    return this.draining;
  }
}

type ToCoordinatorHello = Extract<ToCoordinator, { type: 'hello' }>;
