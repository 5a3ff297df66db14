/**
 * The actor's runtime, inside its worker: one instance of the job's actor class, made once (its
 * `init`, Ray's `__init__`) and kept for every batch (its `call`, Ray's `__call__`): the "stateful
 * actor" of Ray Data's ActorPoolStrategy. The class is the built-in classifier or the user's module,
 * fetched once by sha256 and cached like the model. Each row `call` returns is checked against the
 * declared columns here, before it is sent: a bad row is the actor's error (retried, then an
 * ACTOR_ERROR row for the input alone), never sent as an answer.
 */
import type * as Ort from 'onnxruntime-web';
import Classifier from '../../actors/classifier.ts';
import { describeAdapter } from '../../shared/adapterInfo.ts';
import type { Actor, ActorBatch, ActorClass } from '../../shared/actorApi.ts';
import { parseOutputs, toWireRow, type Column } from '../../shared/columns.ts';
import { serializeError, TabpoolError } from '../../shared/errors.ts';
import type { AdapterInfo, ExecutionProvider, ItemResult, JobSpec } from '../../shared/protocol.ts';
import type { ActorWorkerApi, BatchOutcome, InitOutcome, Prepared, RawSpeed } from '../workerApi.ts';
import { loadFile } from './modelCache.ts';

interface Loaded {
  actor: Actor;
  job: JobSpec;
  columns: Column[];
}

let loaded: Loaded | null = null;
let device: GPUDevice | null = null;
let deviceLost: string | null = null;
/** Batches run one after another: one actor, one device queue. */
let serial: Promise<unknown> = Promise.resolve();

async function importOrt(ep: ExecutionProvider): Promise<typeof Ort> {
  // Separate builds: the WebGPU one carries the asyncify runtime, the wasm one the plain (faster) one.
  // Vite copies each build's .wasm next to it, and the bundle finds it through import.meta.url.
  const ort = ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  ort.env.wasm.proxy = false;
  return ort;
}

async function requestAdapter(job: JobSpec): Promise<AdapterInfo> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new TabpoolError(
      'NO_WEBGPU',
      self.isSecureContext
        ? 'this browser has no WebGPU (navigator.gpu is missing); use a recent Chrome/Edge, or run the job with --ep wasm'
        : 'WebGPU needs a secure context: open the page over https (or on localhost)',
    );
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter)
    throw new TabpoolError('NO_WEBGPU', 'navigator.gpu.requestAdapter() returned no adapter; the GPU may be blocklisted or disabled');
  const info = describeAdapter(adapter.info, adapter.limits);
  if (info.isSoftware && !job.allowSoftwareGpu) {
    throw new TabpoolError(
      'SOFTWARE_GPU',
      `the only WebGPU adapter is software (${info.vendor} ${info.architecture}); run the job with ` +
        `--allow-software-gpu to use it, or --ep wasm`,
    );
  }
  return info;
}

/** The job's actor class: the built-in, or the user's module (bundled by the coordinator) imported from its verified bytes. */
async function actorClass(job: JobSpec): Promise<{ cls: ActorClass; fromCache: boolean }> {
  if (job.actor.kind === 'builtin') return { cls: Classifier as unknown as ActorClass, fromCache: true };
  const { bytes, fromCache } = await loadFile(job.actor.url, job.actor.sha256, 'actor module');
  const url = URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' }));
  try {
    const mod = (await import(/* @vite-ignore */ url)) as { default?: unknown };
    if (typeof mod.default !== 'function') throw new TabpoolError('ACTOR_ERROR', 'the actor module has no default export class');
    return { cls: mod.default as ActorClass, fromCache };
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Raw-pixel actors are warmed up and timed on black images of this side (their inputs' sizes are unknown before the first batch). */
const PROBE_SIDE = 224;

/**
 * A batch of zero images of the job's input size (or black 224 × 224 images for raw pixels): the warm-up (shader
 * compilation is not billed to the first batch) and the raw speed. Null for records and files: nothing to make one of.
 */
function zeros(job: JobSpec, n: number): Prepared | null {
  const p = job.preprocess;
  if (job.inputs !== 'image' || p === null) return null;
  const ids = Array.from({ length: n }, (_, i) => `warm-up-${i}`);
  const base = { ids, rows: ids.map((_, i) => i), errors: ids.map(() => null), decodeMs: 0 };
  if (p === 'none') {
    const pixels = ids.map(() => ({ width: PROBE_SIDE, height: PROBE_SIDE, data: new Uint8Array(PROBE_SIDE * PROBE_SIDE * 3) }));
    return { kind: 'pixels', pixels, ...base };
  }
  return { kind: 'image', input: new Float32Array(n * 3 * p.height * p.width), height: p.height, width: p.width, ...base };
}

/** Every file of the job (`ctx.models`), fetched or read from cache and verified by sha256; whether all came from the cache. */
async function loadModels(job: JobSpec): Promise<{ models: Record<string, Uint8Array>; fromCache: boolean }> {
  const models: Record<string, Uint8Array> = {};
  let fromCache = true;
  for (const f of job.files) {
    const got = await loadFile(f.url, f.sha256, f.name === 'model' ? 'model' : `file ${f.name}`);
    models[f.name] = new Uint8Array(got.bytes);
    fromCache &&= got.fromCache;
  }
  return { models: Object.freeze(models), fromCache };
}

async function init(job: JobSpec, ep: ExecutionProvider): Promise<InitOutcome> {
  try {
    const started = performance.now();
    const ort = await importOrt(ep);
    let adapter: AdapterInfo | null = null;
    if (ep === 'webgpu') adapter = await requestAdapter(job);
    // onnxruntime-web sizes its thread pool once, when its wasm starts: a new count needs a new worker.
    else ort.env.wasm.numThreads = self.crossOriginIsolated ? job.numThreads : 1;
    const { models, fromCache } = await loadModels(job);
    const { cls } = await actorClass(job);
    const parsed = parseOutputs(job.outputs);
    if (!parsed.ok) throw new TabpoolError('ACTOR_ERROR', `the job's outputs do not parse here: ${parsed.error}`);
    const actor = new cls();
    try {
      await actor.init({
        ort: ort as never,
        model: models.model ?? null,
        models,
        sessionOptions: { executionProviders: [ep], graphOptimizationLevel: 'all' },
        ep,
        config: job.config,
        role: 'tab',
      });
    } catch (err) {
      // The built-in's init is its session: failing there is the EP's or the model's fault; a user's init may fail for its own reasons.
      const code = job.actor.kind === 'module' ? 'ACTOR_ERROR' : ep === 'webgpu' ? 'EP_UNAVAILABLE' : 'MODEL_LOAD_FAILED';
      throw new TabpoolError(code, `the actor's init failed on ${ep}: ${(err as Error).message ?? String(err)}`);
    }
    if (ep === 'webgpu') {
      // An actor that made no WebGPU session has no device to watch: do not wait for one.
      device = await Promise.race([ort.env.webgpu.device, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
      void device?.lost.then((info) => {
        deviceLost = `${info.reason}: ${info.message || 'no message'}`;
      });
    }
    loaded = { actor, job, columns: parsed.columns };
    const loadMs = performance.now() - started;
    const warm = performance.now();
    const warmUp = zeros(job, 1);
    if (warmUp) {
      const out = await runPreparedNow(warmUp);
      // A raw-pixel actor may refuse a black image for its own reasons: its real inputs decide, not this.
      if (!out.ok && warmUp.kind === 'image') throw new TabpoolError(out.code, `the warm-up batch failed: ${out.message}`);
    }
    const threads = Math.max(1, Number(ort.env.wasm.numThreads) || 1);
    return { ok: true, ep, loadMs, warmupMs: performance.now() - warm, modelFromCache: fromCache, adapter, threads };
  } catch (err) {
    return { ok: false, ...serializeError(err, 'MODEL_LOAD_FAILED') };
  }
}

async function runPreparedNow(prepared: Prepared): Promise<BatchOutcome> {
  const l = loaded;
  if (!l) return { ok: false, code: 'MODEL_LOAD_FAILED', message: 'runPrepared called before init' };
  if (deviceLost) return { ok: false, code: 'DEVICE_LOST', message: `the WebGPU device was lost (${deviceLost})` };
  const started = performance.now();
  const results: (ItemResult | null)[] = prepared.errors.map((e) => (e ? { ok: false, ...e } : null));
  const ids = prepared.rows.map((i) => prepared.ids[i]!);
  if (ids.length > 0) {
    let rows: unknown;
    try {
      rows = await l.actor.call(batchOf(prepared, ids));
    } catch (err) {
      if (deviceLost) return { ok: false, code: 'DEVICE_LOST', message: `the WebGPU device was lost (${deviceLost})` };
      return { ok: false, code: 'ACTOR_ERROR', message: `the actor's call failed: ${(err as Error).message ?? String(err)}` };
    }
    if (!Array.isArray(rows) || rows.length !== ids.length) {
      const got = Array.isArray(rows) ? `${rows.length} rows` : typeof rows;
      return {
        ok: false,
        code: 'ACTOR_ERROR',
        message: `the actor's call returned ${got} for a batch of ${ids.length}: return one row per input, in order`,
      };
    }
    for (const [j, row] of rows.entries()) {
      const wire = toWireRow(l.columns, row);
      if ('error' in wire) return { ok: false, code: 'ACTOR_ERROR', message: `the actor's row for ${ids[j]}: ${wire.error}` };
      results[prepared.rows[j]!] = { ok: true, row: wire.row };
    }
  }
  const inferenceMs = performance.now() - started;
  return {
    ok: true,
    items: results as ItemResult[],
    timing: { decodeMs: prepared.decodeMs, inferenceMs, totalMs: prepared.decodeMs + inferenceMs },
  };
}

/** What `call` gets for a prepared batch (its `ids`: the inputs that could be made ready). */
function batchOf(prepared: Prepared, ids: string[]): ActorBatch {
  const size = ids.length;
  switch (prepared.kind) {
    case 'image':
      return { ids, size, images: prepared.input, shape: [size, 3, prepared.height, prepared.width] };
    case 'pixels':
      return { ids, size, pixels: prepared.pixels };
    case 'record':
      return { ids, size, records: prepared.records };
    case 'file':
      return { ids, size, files: prepared.files };
    default: {
      const never: never = prepared;
      throw new Error(`unknown prepared batch ${String(never)}`);
    }
  }
}

async function measureRaw(batchSize: number, seconds: number): Promise<RawSpeed | null> {
  const l = loaded;
  if (!l) throw new Error('measureRaw called before init');
  const probe = zeros(l.job, 1);
  if (!probe) return null;
  await runPreparedNow(zeros(l.job, batchSize)!);
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const out = await runPreparedNow(zeros(l.job, batchSize)!);
    // A raw-pixel actor that refuses black images cannot be timed this way; a tensor actor that fails is broken.
    if (!out.ok && probe.kind === 'pixels') return null;
    if (!out.ok) throw new TabpoolError(out.code, out.message);
    images += batchSize;
  }
  return { images, ms: performance.now() - start };
}

/** The actor worker's API: one actor, batches run one after another on it. */
export function createActorApi(): ActorWorkerApi {
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = serial.then(fn);
    serial = next.catch(() => undefined);
    return next;
  };
  return {
    init,
    runPrepared: (prepared) => inTurn(() => runPreparedNow(prepared)),
    measureRaw: (batchSize, seconds) => inTurn(() => measureRaw(batchSize, seconds)),
  };
}

/** The WebGPU device the actor runs on, or null on wasm (test builds destroy it to simulate a lost GPU). */
export function currentDevice(): GPUDevice | null {
  return device;
}
