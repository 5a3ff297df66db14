/**
 * The actor's runtime, inside its worker: one onnxruntime-web session, created once and kept for
 * every batch (the "stateful actor" of Ray Data's ActorPoolStrategy). It runs tensors that
 * prepare.worker.ts made, so decoding the next batch overlaps inference of this one.
 */
import type * as Ort from 'onnxruntime-web';
import { serializeError, TabpoolError } from '../../shared/errors.ts';
import { preprocessSpecFor, type PreprocessSpec } from '../../shared/preprocess.ts';
import type { AdapterInfo, ExecutionProvider, ItemResult, JobSpec } from '../../shared/protocol.ts';
import { softmaxTopK } from '../../shared/topk.ts';
import type { ActorWorkerApi, BatchOutcome, InitOutcome, Prepared, RawSpeed } from '../workerApi.ts';
import { loadModel } from './modelCache.ts';
import { describeAdapter } from '../../shared/adapterInfo.ts';

interface Loaded {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  job: JobSpec;
  spec: PreprocessSpec;
  /** The model's batch dimension when it is fixed (1 for many zoo exports), else null. */
  fixedBatch: number | null;
}

let loaded: Loaded | null = null;
let device: GPUDevice | null = null;
let deviceLost: string | null = null;
/** Batches run one after another: one session, one device queue. */
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

function fixedBatchOf(session: Ort.InferenceSession, inputName: string): number | null {
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  if (!meta || !meta.isTensor) return null;
  const dim = meta.shape[0];
  return typeof dim === 'number' && dim > 0 ? dim : null;
}

async function init(job: JobSpec, ep: ExecutionProvider): Promise<InitOutcome> {
  try {
    const started = performance.now();
    const ort = await importOrt(ep);
    let adapter: AdapterInfo | null = null;
    if (ep === 'webgpu') {
      adapter = await requestAdapter(job);
    } else {
      ort.env.wasm.numThreads = self.crossOriginIsolated ? job.numThreads : 1;
    }
    const { bytes, fromCache } = await loadModel(job.modelUrl, job.modelSha256);
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(new Uint8Array(bytes), {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new TabpoolError(
        ep === 'webgpu' ? 'EP_UNAVAILABLE' : 'MODEL_LOAD_FAILED',
        `creating the ${ep} session failed: ${(err as Error).message}`,
      );
    }
    if (ep === 'webgpu') {
      device = await ort.env.webgpu.device;
      void device.lost.then((info) => {
        deviceLost = `${info.reason}: ${info.message || 'no message'}`;
      });
    }
    const loadMs = performance.now() - started;
    loaded = {
      ort,
      session,
      job,
      spec: preprocessSpecFor(job.inputHeight, job.inputWidth),
      fixedBatch: fixedBatchOf(session, job.inputName),
    };
    // Warm up once so shader compilation (seconds on WebGPU) is not billed to the first batch.
    const warm = performance.now();
    const n = loaded.fixedBatch ?? 1;
    const zeros = new ort.Tensor('float32', new Float32Array(n * 3 * job.inputHeight * job.inputWidth), [
      n,
      3,
      job.inputHeight,
      job.inputWidth,
    ]);
    const out = await session.run({ [job.inputName]: zeros });
    for (const t of Object.values(out)) t.dispose();
    return { ok: true, ep: ep, loadMs, warmupMs: performance.now() - warm, modelFromCache: fromCache, adapter };
  } catch (err) {
    return { ok: false, ...serializeError(err, 'MODEL_LOAD_FAILED') };
  }
}

async function infer(l: Loaded, input: Float32Array, n: number): Promise<Float32Array> {
  const { ort, session, job } = l;
  const tensor = new ort.Tensor('float32', input, [n, 3, job.inputHeight, job.inputWidth]);
  const out = await session.run({ [job.inputName]: tensor }, [job.outputName]);
  const logits = out[job.outputName];
  if (!logits) throw new TabpoolError('INFERENCE_FAILED', `the model returned no output named ${job.outputName}`);
  const data = (await logits.getData()) as Float32Array;
  logits.dispose();
  return data;
}

async function runPreparedNow(prepared: Prepared): Promise<BatchOutcome> {
  const l = loaded;
  if (!l) return { ok: false, code: 'MODEL_LOAD_FAILED', message: 'runPrepared called before init' };
  if (deviceLost) return { ok: false, code: 'DEVICE_LOST', message: `the WebGPU device was lost (${deviceLost})` };
  const started = performance.now();
  const { job, spec } = l;
  const { input, rows, errors } = prepared;
  const per = 3 * spec.height * spec.width;
  const results: (ItemResult | null)[] = errors.map((e) => (e ? { ok: false, ...e } : null));
  try {
    const step = l.fixedBatch ?? Math.max(rows.length, 1);
    for (let first = 0; first < rows.length; first += step) {
      const n = Math.min(step, rows.length - first);
      let chunk = input.subarray(first * per, (first + n) * per);
      if (l.fixedBatch && n < l.fixedBatch) {
        const padded = new Float32Array(l.fixedBatch * per);
        padded.set(chunk);
        chunk = padded;
      }
      const logits = await infer(l, chunk, l.fixedBatch ?? n);
      for (let j = 0; j < n; j++) {
        const row = logits.subarray(j * job.numClasses, (j + 1) * job.numClasses);
        const item: ItemResult = { ok: true, topk: softmaxTopK(row, Math.min(job.topK, job.numClasses)) };
        if (job.returnLogits) item.logits = Array.from(row);
        results[rows[first + j]!] = item;
      }
    }
  } catch (err) {
    if (deviceLost) return { ok: false, code: 'DEVICE_LOST', message: `the WebGPU device was lost (${deviceLost})` };
    return { ok: false, ...serializeError(err, 'INFERENCE_FAILED') };
  }
  const inferenceMs = performance.now() - started;
  return {
    ok: true,
    items: results as ItemResult[],
    timing: { decodeMs: prepared.decodeMs, inferenceMs, totalMs: prepared.decodeMs + inferenceMs },
  };
}

async function measureRaw(batchSize: number, seconds: number): Promise<RawSpeed> {
  const l = loaded;
  if (!l) throw new Error('measureRaw called before init');
  const n = l.fixedBatch ?? batchSize;
  const input = new Float32Array(n * 3 * l.spec.height * l.spec.width);
  for (let i = 0; i < input.length; i++) input[i] = ((i * 2654435761) % 1000) / 500 - 1;
  await infer(l, input, n);
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await infer(l, input, n);
    images += n;
  }
  return { images, ms: performance.now() - start };
}

/** The actor worker's API: one session, batches run one after another on it. */
export function createActorApi(): ActorWorkerApi {
  return {
    init,
    runPrepared(prepared) {
      const next = serial.then(() => runPreparedNow(prepared));
      serial = next.catch(() => undefined);
      return next;
    },
    measureRaw(batchSize, seconds) {
      const next = serial.then(() => measureRaw(batchSize, seconds));
      serial = next.catch(() => undefined);
      return next;
    },
  };
}

/** The WebGPU device the session runs on, or null on wasm (test builds destroy it to simulate a lost GPU). */
export function currentDevice(): GPUDevice | null {
  return device;
}
