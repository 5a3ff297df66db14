/**
 * The worker page: joins the coordinator, reports what this browser can do, and turns batches
 * from the socket into calls on the actor worker (which holds the model).
 */
import * as Comlink from 'comlink';
import { decodeBatchFrame, sliceItems } from '../../shared/batchFrame.ts';
import { describeAdapter } from '../../shared/adapterInfo.ts';
import type { SerializedError } from '../../shared/errors.ts';
import { parseBatchHeader, parseToActor } from '../../shared/messageSchema.ts';
import { PROTOCOL_VERSION, type Capabilities, type JobSpec, type ToActorJson, type ToCoordinator } from '../../shared/protocol.ts';
import { formatBytes } from '../../shared/units.ts';
import type { ActorWorkerApi, BatchOutcome, PrepareWorkerApi } from '../workerApi.ts';
import { readPageParams } from './pageParams.ts';
import { render, type ViewState } from './view.ts';

const params = readPageParams(location.search);
const view: ViewState = {
  state: 'connecting',
  actorId: null,
  hostId: hostId(),
  adapter: '–',
  ep: '–',
  batches: 0,
  images: 0,
  imagesPerSecond: null,
  model: '–',
  reason: params.warnings.length ? params.warnings.join('; ') : null,
  error: null,
};
let firstBatchAt: number | null = null;
let worker: Worker | null = null;
let actor: Comlink.Remote<ActorWorkerApi> | null = null;
let prepWorker: Worker | null = null;
let prep: Comlink.Remote<PrepareWorkerApi> | null = null;
let spec: { height: number; width: number } | null = null;
let socket: WebSocket | null = null;
let benchResult: { images: number; ms: number; imgPerSec: number } | null = null;

function update(patch: Partial<ViewState>): void {
  Object.assign(view, patch);
  render(view);
}

/** One id per browser profile: tabs sharing localStorage share a machine, and so a GPU. */
function hostId(): string {
  try {
    let id = localStorage.getItem('tabpool.hostId');
    if (!id) {
      id = `host-${crypto.randomUUID().slice(0, 8)}`;
      localStorage.setItem('tabpool.hostId', id);
    }
    return id;
  } catch {
    return `host-${crypto.randomUUID().slice(0, 8)}`;
  }
}

async function capabilities(): Promise<Capabilities> {
  let webgpu: Capabilities['webgpu'] = null;
  try {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) webgpu = describeAdapter(adapter.info, adapter.limits);
  } catch {
    webgpu = null;
  }
  const nav = navigator as Navigator & { deviceMemory?: number };
  return {
    webgpu,
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    deviceMemoryGiB: typeof nav.deviceMemory === 'number' ? nav.deviceMemory : null,
    crossOriginIsolated: self.crossOriginIsolated,
    userAgent: navigator.userAgent,
  };
}

function send(msg: ToCoordinator, on: WebSocket | null = socket): void {
  // A batch answered after a reconnect belongs to the old actor: it must not reach the new socket.
  if (on === socket && on?.readyState === WebSocket.OPEN) on.send(JSON.stringify(msg));
}

function fail(error: SerializedError, state = 'error'): void {
  update({ state, error });
}

async function startActor(job: JobSpec): Promise<void> {
  update({ state: 'loading', ep: job.ep, model: `${job.modelSha256.slice(0, 12)}… (${formatBytes(job.modelBytes)})`, reason: null, error: null });
  const onCrash = (which: string) => (e: ErrorEvent): void => {
    // The worker (and its session) is gone or unsound: leave, and rejoin with a fresh one.
    const error = { code: 'MODEL_LOAD_FAILED' as const, message: `the ${which} worker crashed: ${e.message || 'unknown error'}` };
    send({ type: 'actor-error', ...error });
    fail(error);
    socket?.close(4000, 'worker crashed');
  };
  worker = new Worker(new URL('../worker/actor.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-actor' });
  worker.addEventListener('error', onCrash('actor'));
  prepWorker = new Worker(new URL('../worker/prepare.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-prepare' });
  prepWorker.addEventListener('error', onCrash('preprocessing'));
  prep = Comlink.wrap<PrepareWorkerApi>(prepWorker);
  spec = { height: job.inputHeight, width: job.inputWidth };
  actor = Comlink.wrap<ActorWorkerApi>(worker);
  const outcome = await actor.init(job);
  if (!outcome.ok) {
    // No WebGPU, a software adapter, a bad model: rejoining would fail the same way.
    noRejoin = true;
    send({ type: 'actor-error', code: outcome.code, message: outcome.message });
    fail({ code: outcome.code, message: outcome.message });
    return;
  }
  reconnects = 0;
  const a = outcome.adapter;
  update({
    state: 'ready',
    adapter: a ? `${a.vendor || 'unknown vendor'} ${a.architecture}${a.description ? ` (${a.description})` : ''}${a.isSoftware ? ' [software]' : ''}` : view.adapter,
  });
  if (params.bench) {
    update({ state: 'benchmarking' });
    const r = await actor.benchmarkRaw(params.bench.batchSize, params.bench.seconds);
    benchResult = { ...r, imgPerSec: (r.images * 1000) / r.ms };
    update({ state: 'ready' });
  }
  send({ type: 'ready', ep: outcome.ep, loadMs: outcome.loadMs, warmupMs: outcome.warmupMs, modelFromCache: outcome.modelFromCache });
}

let inFlight = 0;

async function onBatch(data: ArrayBuffer): Promise<void> {
  const ws = socket;
  const frame = new Uint8Array(data);
  const { header: raw, payloadOffset } = decodeBatchFrame(frame);
  const parsed = parseBatchHeader(raw);
  if (!parsed.ok) throw new Error(`bad batch header: ${parsed.error}`);
  const header = parsed.value;
  const items = sliceItems(frame, payloadOffset, header);
  if (!actor || !prep || !spec) {
    send({ type: 'batch-failed', batchId: header.batchId, code: 'MODEL_LOAD_FAILED', message: 'batch arrived before the model was loaded' }, ws);
    return;
  }
  inFlight++;
  firstBatchAt ??= performance.now();
  update({ state: 'busy' });
  const slices = items.map((b) => ({ offset: b.byteOffset, length: b.byteLength }));
  let outcome: BatchOutcome;
  try {
    // Two workers, two stages: this batch is decoded while the previous one runs on the model.
    const prepared = await prep.prepare(Comlink.transfer(data, [data]), slices, spec.height, spec.width);
    if (ws !== socket || !actor) return;
    outcome = await actor.runPrepared(Comlink.transfer(prepared, [prepared.input.buffer]));
  } catch (err) {
    outcome = { ok: false, code: 'INFERENCE_FAILED', message: `the batch failed in a worker: ${(err as Error).message}` };
  } finally {
    inFlight = Math.max(0, inFlight - 1);
  }
  if (ws !== socket) return;
  if (!outcome.ok) {
    send({ type: 'batch-failed', batchId: header.batchId, code: outcome.code, message: outcome.message }, ws);
    if (outcome.code === 'DEVICE_LOST') fail({ code: outcome.code, message: outcome.message });
    return;
  }
  send({ type: 'result', batchId: header.batchId, items: outcome.items, timing: outcome.timing }, ws);
  const images = view.images + items.length;
  // Wall-clock rate since the first batch: decoding overlaps inference, so summed stage times would undercount.
  const elapsed = performance.now() - firstBatchAt!;
  update({ state: inFlight > 0 ? 'busy' : 'ready', batches: view.batches + 1, images, imagesPerSecond: elapsed > 0 ? (images * 1000) / elapsed : null });
}

function onControl(msg: ToActorJson): void {
  switch (msg.type) {
    case 'welcome':
      update({ actorId: msg.actorId });
      onAdmission(msg.status, msg.reason, msg.job);
      return;
    case 'admission':
      onAdmission(msg.status, msg.reason, msg.job);
      return;
    case 'shutdown':
      update({ state: 'finished', reason: msg.reason });
      resetActor();
      return;
    default: {
      const check: never = msg;
      throw new Error(`unhandled message ${JSON.stringify(check)}`);
    }
  }
}

function onAdmission(status: 'admitted' | 'standby' | 'rejected', reason: string | null, job: JobSpec | null): void {
  if (status === 'admitted' && job) {
    if (!actor) void startActor(job);
    return;
  }
  update({ state: status, reason });
}

let caps: Capabilities | null = null;
let reconnects = 0;
let noRejoin = false;
const MAX_RECONNECTS = 10;

function resetActor(): void {
  worker?.terminate();
  prepWorker?.terminate();
  worker = null;
  prepWorker = null;
  actor = null;
  prep = null;
  spec = null;
  inFlight = 0;
}

function openSocket(): void {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(params.token)}`);
  socket = ws;
  let opened = false;
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('open', () => {
    opened = true;
    send({ type: 'hello', protocol: PROTOCOL_VERSION, hostId: view.hostId, capabilities: caps!, declared: params.declared });
  });
  ws.addEventListener('message', (ev: MessageEvent<string | ArrayBuffer>) => {
    if (typeof ev.data === 'string') {
      const parsed = parseToActor(ev.data);
      if (!parsed.ok) {
        fail({ code: 'PROTOCOL_ERROR', message: `the coordinator sent a message this page does not understand (${parsed.error}); reload the page to update it` });
        return;
      }
      onControl(parsed.value);
    } else {
      onBatch(ev.data).catch((err: unknown) => fail({ code: 'PROTOCOL_ERROR', message: (err as Error).message }));
    }
  });
  ws.addEventListener('close', (ev) => {
    if (socket !== ws) return;
    resetActor();
    if (view.state === 'finished') return;
    if (!opened) {
      // Refused at the upgrade (wrong token) or the coordinator is gone: nothing to rejoin.
      update({ state: 'disconnected', error: { code: 'UNAUTHORIZED', message: 'the coordinator refused this page or is not running; open the URL it printed (with its token)' } });
      return;
    }
    const why = `the connection closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
    // Closed for breaking the protocol: rejoining would only repeat it.
    if (noRejoin || ev.code === 1008 || ev.code === 4002 || reconnects >= MAX_RECONNECTS) {
      update({ state: 'disconnected', error: view.error ?? { code: 'PROTOCOL_ERROR', message: why } });
      return;
    }
    reconnects++;
    const delay = Math.min(10_000, 500 * 2 ** (reconnects - 1));
    update({ state: 'reconnecting', actorId: null, reason: `${why}; rejoining in ${(delay / 1000).toFixed(1)}s as a new actor (attempt ${reconnects} of ${MAX_RECONNECTS})` });
    setTimeout(openSocket, delay);
  });
}

async function connect(): Promise<void> {
  render(view);
  caps = await capabilities();
  if (caps.webgpu) update({ adapter: `${caps.webgpu.vendor} ${caps.webgpu.architecture}${caps.webgpu.isSoftware ? ' [software]' : ''}` });
  else update({ adapter: 'no WebGPU adapter' });
  openSocket();
}

// Test hook (Playwright destroys the GPU device through it, as a lost GPU would).
(globalThis as { __tabpool?: unknown }).__tabpool = {
  view,
  benchResult: () => benchResult,
  loseDevice: () => actor?.loseDevice() ?? Promise.resolve(false),
  crashWorker: () => actor?.crash(),
  freezeWorker: () => actor?.freeze(),
  closeSocket: () => socket?.close(4003, 'test hook: socket cut'),
};

void connect();
