/**
 * The worker page: joins the coordinator, reports what this browser can do, and turns batches
 * from the socket into calls on the actor worker (which holds the model). A page whose worker
 * crashes or whose socket drops rejoins as a new actor, backing off, up to MAX_RECONNECTS times.
 */
import * as Comlink from 'comlink';
import { decodeBatchFrame, sliceItems } from '../../shared/batchFrame.ts';
import { CLOSE } from '../../shared/closeCodes.ts';
import type { SerializedError } from '../../shared/errors.ts';
import { readPageParams, type PageParams } from '../../shared/pageParams.ts';
import {
  parseBatchHeader,
  parseToActor,
  PROTOCOL_VERSION,
  type AdmissionStatus,
  type Capabilities,
  type ExecutionProvider,
  type JobSpec,
  type ToActorJson,
  type ToCoordinator,
} from '../../shared/protocol.ts';
import { socketUrl } from '../../shared/routes.ts';
import { transferList, type ActorWorkerApi, type BatchOutcome, type PrepareSpec } from '../workerApi.ts';
import { capabilities, hostId, noWebGpuExplanation } from './capabilities.ts';
import { loadFastest } from './epProbe.ts';
import { InputWait } from './inputWait.ts';
import { PreparePool, prepareWorkerCount } from './preparePool.ts';
import { describeAdapter, describeChoice, describeJob, describeRunsOn } from './describe.ts';
import { afterClose } from './rejoin.ts';
import { Recycler } from './recycler.ts';
import { ThreadShare } from './threadShare.ts';
import { render, type ViewState } from './view.ts';

/** How the page makes its workers: the shipped page and the test build each pass their own. */
export interface WorkerFactories {
  actor(): Worker;
  prepare(): Worker;
  /** Runs after the model is loaded and before `ready` is sent (the test build's benchmark uses it). */
  beforeReady?(actor: Comlink.Remote<ActorWorkerApi>): Promise<void>;
}

export class WorkerPage {
  readonly view: ViewState;
  readonly params: PageParams;
  private firstBatchAt: number | null = null;
  private worker: Worker | null = null;
  private actor: Comlink.Remote<ActorWorkerApi> | null = null;
  private prep: PreparePool | null = null;
  private recycler: Recycler | null = null;
  private onActorCrash: ((e: ErrorEvent) => void) | null = null;
  private readonly wait = new InputWait();
  private spec: PrepareSpec | null = null;
  /** The job its actor loaded, and the wasm threads that actor runs. */
  private job: JobSpec | null = null;
  private share: ThreadShare | null = null;
  private socket: WebSocket | null = null;
  private caps: Capabilities | null = null;
  private reconnects = 0;
  private noRejoin = false;
  /** Joined a standing pool (tabpool serve): it rejoins whenever the head is back, however long that takes. */
  private standing = false;
  /** Bumped whenever the actor is let go: a batch started for an earlier actor (another job) is dropped. */
  private generation = 0;
  private inFlight = 0;
  /** Batches another actor answered first: skipped or their results dropped. */
  private readonly cancelled = new Set<number>();

  constructor(private readonly workers: WorkerFactories) {
    const q = new URLSearchParams(location.search);
    this.params = readPageParams((name) => q.get(name));
    this.view = {
      state: 'connecting',
      runsOn: "it runs the job's model on this machine, on its GPU (WebGPU) or its CPU (WebAssembly), whichever the model runs faster on.",
      serving: null,
      recycled: 0,
      actorId: null,
      hostId: hostId(),
      adapter: '–',
      ep: '–',
      threads: '–',
      batches: 0,
      images: 0,
      imagesPerSecond: null,
      feed: '–',
      unit: 'img',
      model: '–',
      reason: null,
      notice: this.params.warnings.length ? this.params.warnings.join('; ') : null,
      error: null,
    };
  }

  async start(): Promise<void> {
    render(this.view);
    this.caps = await capabilities();
    this.share = new ThreadShare(this.caps.crossOriginIsolated, (threads) => this.update({ threads }));
    const why = noWebGpuExplanation(this.caps);
    if (this.caps.webgpu)
      this.update({
        adapter: `${this.caps.webgpu.vendor} ${this.caps.webgpu.architecture}${this.caps.webgpu.isSoftware ? ' [software]' : ''}`,
      });
    else this.update({ adapter: 'no WebGPU adapter', notice: [this.view.notice, why].filter(Boolean).join(' — ') });
    this.openSocket();
  }

  /** The actor worker that holds the model, while one runs. */
  get actorWorker(): { worker: Worker; api: Comlink.Remote<ActorWorkerApi> } | null {
    return this.worker && this.actor ? { worker: this.worker, api: this.actor } : null;
  }

  private update(patch: Partial<ViewState>): void {
    Object.assign(this.view, patch);
    render(this.view);
  }

  private fail(error: SerializedError, state = 'error'): void {
    this.update({ state, error });
  }

  private send(msg: ToCoordinator, on: WebSocket | null = this.socket): void {
    // A batch answered after a reconnect belongs to the old actor: it must not reach the new socket.
    if (on === this.socket && on?.readyState === WebSocket.OPEN) on.send(JSON.stringify(msg));
  }

  private async startActor(job: JobSpec): Promise<void> {
    const eps = job.eps; // A URL pin narrows the job's offer: the coordinator offered only EPs the pin allows.
    this.update({
      state: 'loading',
      ep: eps.join(' or '),
      model: describeJob(job),
      reason: null,
      error: null,
    });
    const onCrash =
      (which: string) =>
      (e: ErrorEvent): void => {
        // The worker (and its session) is gone or unsound: leave, and rejoin with a fresh one.
        const error = { code: 'WORKER_CRASHED' as const, message: `the ${which} worker crashed: ${e.message || 'unknown error'}` };
        this.send({ type: 'actor-error', ...error });
        this.fail(error);
        this.socket?.close(CLOSE.workerCrashed, 'worker crashed');
      };
    const cpus = this.params.declared.cpus ?? navigator.hardwareConcurrency ?? 2;
    this.prep = new PreparePool(
      () => this.workers.prepare(),
      prepareWorkerCount(cpus, this.params.prepareWorkers),
      onCrash('preprocessing'),
    );
    this.spec = { inputs: job.inputs, preprocess: job.preprocess, exifTranspose: job.exifTranspose };
    this.job = job;
    this.update({ unit: job.inputs === 'image' ? 'img' : 'item' });
    const generation = this.generation;
    const probe = await loadFastest(
      job,
      eps,
      () => this.workers.actor(),
      (step) => this.update({ reason: step }),
    );
    const chosen = probe.chosen;
    if (generation !== this.generation) {
      // Let go while it loaded (its job ended, or the pool took it back): this actor is no one's.
      chosen?.worker.terminate();
      return;
    }
    if (!chosen) {
      // No WebGPU, a software adapter, a bad model: rejoining would fail the same way.
      const failure = probe.failure ?? {
        ok: false as const,
        code: 'EP_UNAVAILABLE' as const,
        message: `no EP could run the model: ${probe.figures.map((f) => `${f.ep}: ${f.note}`).join('; ')}`,
      };
      // A standing pool's tab stays: another job may well run here.
      if (!this.standing) this.noRejoin = true;
      this.send({ type: 'actor-error', code: failure.code, message: failure.message });
      this.fail({ code: failure.code, message: failure.message });
      return;
    }
    this.worker = chosen.worker;
    this.onActorCrash = onCrash('actor');
    this.worker.addEventListener('error', this.onActorCrash);
    this.actor = chosen.api;
    const { outcome } = chosen;
    this.recycler = new Recycler(
      job.recycle,
      () => this.freshActor(outcome.ep),
      () => this.update({ recycled: this.recycler?.count ?? 0 }),
    );
    this.reconnects = 0;
    this.update({
      state: 'ready',
      reason: null,
      runsOn: describeRunsOn(outcome.ep, outcome.adapter),
      ep: describeChoice(outcome.ep, probe.figures),
      adapter: outcome.adapter ? describeAdapter(outcome.adapter) : this.view.adapter,
    });
    await this.workers.beforeReady?.(chosen.api);
    this.send({
      type: 'ready',
      ep: outcome.ep,
      probe: probe.figures,
      loadMs: outcome.loadMs,
      warmupMs: outcome.warmupMs,
      modelFromCache: outcome.modelFromCache,
      threads: outcome.threads,
    });
    // Re-planned while it loaded: the latest share takes effect now, between batches.
    if (this.share?.loaded(outcome.ep, outcome.threads)) this.recycler?.renew();
  }

  /** The recycler's fresh actor: loaded (the model from cache) while the old one runs, then swapped in. */
  private async freshActor(ep: ExecutionProvider): Promise<boolean> {
    const generation = this.generation;
    const job = this.job;
    if (!job) return false;
    const numThreads = this.share?.wanted(job.numThreads) ?? job.numThreads;
    const probe = await loadFastest(
      { ...job, eps: [ep], numThreads },
      [ep],
      () => this.workers.actor(),
      () => undefined,
    );
    const chosen = probe.chosen;
    const old = this.actorWorker;
    if (!chosen || generation !== this.generation || !old || !this.recycler) {
      chosen?.worker.terminate();
      return false;
    }
    if (this.onActorCrash) chosen.worker.addEventListener('error', this.onActorCrash);
    this.worker = chosen.worker;
    this.actor = chosen.api;
    this.recycler.retire(old.api, old.worker);
    if (this.share?.swapped(chosen.outcome.threads)) this.send({ type: 'threads', threads: chosen.outcome.threads });
    return true;
  }

  private async onBatch(data: ArrayBuffer): Promise<void> {
    const ws = this.socket;
    const frame = new Uint8Array(data);
    const { header: raw, payloadOffset } = decodeBatchFrame(frame);
    const parsed = parseBatchHeader(raw);
    if (!parsed.ok) throw new Error(`bad batch header: ${parsed.error}`);
    const header = parsed.value;
    const items = sliceItems(frame, payloadOffset, header);
    const { actor, prep, spec, generation } = this;
    const stale = (): boolean => ws !== this.socket || generation !== this.generation;
    if (this.cancelled.delete(header.batchId)) return;
    if (!actor || !prep || !spec) {
      this.send(
        { type: 'batch-failed', batchId: header.batchId, code: 'MODEL_LOAD_FAILED', message: 'batch arrived before the model was loaded' },
        ws,
      );
      return;
    }
    this.inFlight++;
    const ended = this.recycler?.run(actor);
    this.firstBatchAt ??= performance.now();
    this.update({ state: 'busy' });
    const slices = items.map((b) => ('url' in b ? { url: b.url } : { offset: b.byteOffset, length: b.byteLength }));
    let outcome: BatchOutcome;
    try {
      // Two stages on their own workers: this batch is decoded while the previous one runs on the model.
      this.wait.preparing(+1);
      const prepared = await prep.prepare(data, slices, header.ids, spec).finally(() => this.wait.preparing(-1));
      if (stale() || !this.actor) return;
      // Another actor answered it meanwhile: the model is spared the work.
      if (this.cancelled.delete(header.batchId)) return;
      this.wait.running(+1);
      outcome = await actor.runPrepared(Comlink.transfer(prepared, transferList(prepared))).finally(() => this.wait.running(-1));
    } catch (err) {
      outcome = { ok: false, code: 'INFERENCE_FAILED', message: `the batch failed in a worker: ${(err as Error).message}` };
    } finally {
      this.inFlight = Math.max(0, this.inFlight - 1);
      ended?.();
    }
    if (stale()) return;
    if (this.cancelled.delete(header.batchId)) return;
    if (!outcome.ok) {
      this.send({ type: 'batch-failed', batchId: header.batchId, code: outcome.code, message: outcome.message }, ws);
      if (outcome.code === 'DEVICE_LOST') this.fail({ code: outcome.code, message: outcome.message });
      return;
    }
    this.send({ type: 'result', batchId: header.batchId, items: outcome.items, timing: outcome.timing }, ws);
    this.recycler?.answered();
    const images = this.view.images + items.length;
    // Wall-clock rate since the first batch: decoding overlaps inference, so summed stage times would undercount.
    const elapsed = performance.now() - this.firstBatchAt;
    this.update({
      state: this.inFlight > 0 ? 'busy' : 'ready',
      batches: this.view.batches + 1,
      images,
      imagesPerSecond: elapsed > 0 ? (images * 1000) / elapsed : null,
      feed: `${prep.size} preprocessing worker(s); the model waited for input ${this.wait.percent().toFixed(0)}% of the time`,
    });
  }

  private onControl(msg: ToActorJson): void {
    switch (msg.type) {
      case 'welcome':
        this.update({ actorId: msg.actorId });
        this.onAdmission(msg.status, msg.reason, msg.job, msg.serving ?? null);
        return;
      case 'admission':
        this.onAdmission(msg.status, msg.reason, msg.job, msg.serving ?? null);
        return;
      case 'shutdown':
        this.update({ state: 'finished', reason: msg.reason });
        this.resetActor();
        return;
      case 'cancel':
        this.cancelled.add(msg.batchId);
        return;
      case 'threads':
        // Its share of its host's cores changed: a wasm actor starts afresh with that many threads (the model from cache).
        if (this.share?.plan(msg.numThreads)) this.recycler?.renew();
        return;
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  private onAdmission(status: AdmissionStatus, reason: string | null, job: JobSpec | null, serving: string | null): void {
    if (status === 'admitted' && job) {
      if (serving !== null) this.update({ serving });
      if (!this.actor) void this.startActor(job);
      return;
    }
    if (status === 'idle') {
      // A standing pool: the job it served is over (or it has none yet); the page stays, its actor goes.
      this.standing = true;
      this.resetActor();
      this.reconnects = 0;
      this.update({ state: 'idle', serving: null, reason, error: null });
      return;
    }
    this.update({ state: status, reason });
  }

  private resetActor(): void {
    this.generation++;
    this.recycler?.stop();
    this.recycler = null;
    this.worker?.terminate();
    this.prep?.terminate();
    this.worker = null;
    this.actor = null;
    this.prep = null;
    this.spec = null;
    this.job = null;
    this.share?.reset();
    this.inFlight = 0;
    this.cancelled.clear();
  }

  private openSocket(): void {
    const ws = new WebSocket(socketUrl(location.origin, this.params.token));
    this.socket = ws;
    let opened = false;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => {
      opened = true;
      this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        hostId: this.view.hostId,
        capabilities: this.caps!,
        declared: this.params.declared,
        pinnedEp: this.params.pinnedEp,
      });
    });
    ws.addEventListener('message', (ev: MessageEvent<string | ArrayBuffer>) => {
      if (typeof ev.data === 'string') {
        const parsed = parseToActor(ev.data);
        if (!parsed.ok) {
          this.fail({
            code: 'PROTOCOL_ERROR',
            message: `the coordinator sent a message this page does not understand (${parsed.error}); reload the page to update it`,
          });
          return;
        }
        this.onControl(parsed.value);
      } else {
        this.onBatch(ev.data).catch((err: unknown) => this.fail({ code: 'PROTOCOL_ERROR', message: (err as Error).message }));
      }
    });
    ws.addEventListener('close', (ev) => {
      if (this.socket !== ws) return;
      this.resetActor();
      if (this.view.state === 'finished') return;
      const { standing, noRejoin, reconnects } = this;
      const next = afterClose({ code: ev.code, reason: ev.reason, opened, standing, noRejoin, reconnects, error: this.view.error });
      if (!next.rejoin) return this.update({ state: 'disconnected', error: next.error });
      this.reconnects++;
      this.update({ state: 'reconnecting', actorId: null, serving: null, reason: next.reason });
      setTimeout(() => this.openSocket(), next.delayMs);
    });
  }
}
