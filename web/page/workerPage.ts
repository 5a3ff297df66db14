/**
 * The worker page: joins the coordinator, reports what this browser can do, and turns batches
 * from the socket into calls on the actor worker (which holds the model). A page whose worker
 * crashes or whose socket drops rejoins as a new actor, backing off, up to MAX_RECONNECTS times.
 */
import * as Comlink from 'comlink';
import { decodeBatchFrame, sliceItems } from '../../shared/batchFrame.ts';
import { CLOSE, NO_REJOIN_CODES } from '../../shared/closeCodes.ts';
import type { SerializedError } from '../../shared/errors.ts';
import { readPageParams, type PageParams } from '../../shared/pageParams.ts';
import {
  parseBatchHeader,
  parseToActor,
  PROTOCOL_VERSION,
  type AdmissionStatus,
  type Capabilities,
  type EpFigure,
  type ExecutionProvider,
  type JobSpec,
  type ToActorJson,
  type ToCoordinator,
} from '../../shared/protocol.ts';
import { socketUrl } from '../../shared/routes.ts';
import { formatBytes } from '../../shared/units.ts';
import type { ActorWorkerApi, BatchOutcome } from '../workerApi.ts';
import { capabilities, hostId, noWebGpuExplanation } from './capabilities.ts';
import { loadFastest } from './epProbe.ts';
import { InputWait } from './inputWait.ts';
import { PreparePool, prepareWorkerCount } from './preparePool.ts';
import { render, type ViewState } from './view.ts';

const MAX_RECONNECTS = 10;

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
  private readonly wait = new InputWait();
  private spec: Pick<JobSpec, 'inputs' | 'preprocess'> | null = null;
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
      serving: null,
      actorId: null,
      hostId: hostId(),
      adapter: '–',
      ep: '–',
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
    // A URL pin narrows the job's offer; the coordinator offered only EPs the pin allows.
    const eps = job.eps;
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
    this.spec = { inputs: job.inputs, preprocess: job.preprocess };
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
    this.worker.addEventListener('error', onCrash('actor'));
    this.actor = chosen.api;
    const { outcome } = chosen;
    this.reconnects = 0;
    const a = outcome.adapter;
    this.update({
      state: 'ready',
      reason: null,
      ep: describeChoice(outcome.ep, probe.figures),
      adapter: a
        ? `${a.vendor || 'unknown vendor'} ` +
          `${a.architecture}${a.description ? ` (${a.description})` : ''}${a.isSoftware ? ' [software]' : ''}`
        : this.view.adapter,
    });
    await this.workers.beforeReady?.(chosen.api);
    this.send({
      type: 'ready',
      ep: outcome.ep,
      probe: probe.figures,
      loadMs: outcome.loadMs,
      warmupMs: outcome.warmupMs,
      modelFromCache: outcome.modelFromCache,
    });
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
      outcome = await actor
        .runPrepared(prepared.kind === 'image' ? Comlink.transfer(prepared, [prepared.input.buffer]) : prepared)
        .finally(() => this.wait.running(-1));
    } catch (err) {
      outcome = { ok: false, code: 'INFERENCE_FAILED', message: `the batch failed in a worker: ${(err as Error).message}` };
    } finally {
      this.inFlight = Math.max(0, this.inFlight - 1);
    }
    if (stale()) return;
    if (this.cancelled.delete(header.batchId)) return;
    if (!outcome.ok) {
      this.send({ type: 'batch-failed', batchId: header.batchId, code: outcome.code, message: outcome.message }, ws);
      if (outcome.code === 'DEVICE_LOST') this.fail({ code: outcome.code, message: outcome.message });
      return;
    }
    this.send({ type: 'result', batchId: header.batchId, items: outcome.items, timing: outcome.timing }, ws);
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
    this.worker?.terminate();
    this.prep?.terminate();
    this.worker = null;
    this.actor = null;
    this.prep = null;
    this.spec = null;
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
      if (!opened && !this.standing) {
        // Refused at the upgrade (wrong token) or the coordinator is gone: nothing to rejoin.
        this.update({
          state: 'disconnected',
          error: {
            code: 'UNAUTHORIZED',
            message: 'the coordinator refused this page or is not running; open the URL it printed (with its token)',
          },
        });
        return;
      }
      const why = `the connection closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
      // Closed for breaking the protocol: rejoining would only repeat it.
      // A standing pool's tab keeps trying: the head restarting must not need a person to reopen it.
      const givenUp = !this.standing && this.reconnects >= MAX_RECONNECTS;
      if (this.noRejoin || NO_REJOIN_CODES.has(ev.code) || givenUp) {
        this.update({ state: 'disconnected', error: this.view.error ?? { code: 'PROTOCOL_ERROR', message: why } });
        return;
      }
      this.reconnects++;
      const delay = Math.min(10_000, 500 * 2 ** (this.reconnects - 1));
      this.update({
        state: 'reconnecting',
        actorId: null,
        serving: null,
        reason: this.standing
          ? `${why}; rejoining the pool in ${(delay / 1000).toFixed(1)}s (attempt ${this.reconnects})`
          : `${why}; rejoining in ${(delay / 1000).toFixed(1)}s as a new actor (attempt ${this.reconnects} of ${MAX_RECONNECTS})`,
      });
      setTimeout(() => this.openSocket(), delay);
    });
  }
}

/** `wasm (measured: wasm 8.1 img/s, webgpu no result within 20 s)`, or just the EP when none was measured. */
export function describeChoice(ep: ExecutionProvider, figures: readonly EpFigure[]): string {
  if (figures.length === 0) return ep;
  const parts = figures.map((f) => `${f.ep} ${f.imagesPerSecond !== null ? `${f.imagesPerSecond.toFixed(1)} img/s` : f.note}`);
  return `${ep} (measured: ${parts.join(', ')})`;
}

/** What the tab loads: the actor (built-in or the user's module) and the model, with their sizes. */
function describeJob(job: JobSpec): string {
  const actor =
    job.actor.kind === 'builtin' ? 'built-in classifier' : `actor ${job.actor.sha256.slice(0, 12)}… (${formatBytes(job.actor.bytes)})`;
  return job.model ? `${actor}, model ${job.model.sha256.slice(0, 12)}… (${formatBytes(job.model.bytes)})` : `${actor}, no model`;
}
