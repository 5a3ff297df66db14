/**
 * The trusted reference, in a worker thread so decoding and preprocessing never stall dispatch:
 * onnxruntime-node on tensors made by the same shared preprocessing the tabs use, from pixels
 * decoded as a browser decodes them (referenceDecode.ts). It answers a batch with each input's
 * class probabilities, or null for an input it cannot decode (see referenceDecode.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { preprocessInto, preprocessSpecFor } from '../../shared/preprocess.ts';
import { decodeForReference } from './referenceDecode.ts';

export interface ReferenceInit {
  modelPath: string;
  inputName: string;
  outputName: string;
  height: number;
  width: number;
  numClasses: number;
  /** The model's batch dimension when it is fixed (many zoo exports: 1), else null: run in chunks of it, the last padded, as a tab does. */
  fixedBatch: number | null;
}

export interface ReferenceRequest {
  id: number;
  inputs: Uint8Array[];
}

export interface ReferenceReply {
  id: number;
  /** Per input: softmax probabilities over the classes, or null when it could not be decoded here. */
  probs: (Float32Array | null)[];
  error: string | null;
}

const init = workerData as ReferenceInit;
// One thread: the reference must not take the cores the tabs on this machine are using.
const session = await ort.InferenceSession.create(init.modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const spec = preprocessSpecFor(init.height, init.width);
const per = 3 * init.height * init.width;

function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

async function answer(req: ReferenceRequest): Promise<ReferenceReply> {
  const probs: (Float32Array | null)[] = req.inputs.map(() => null);
  const rows: number[] = [];
  const input = new Float32Array(req.inputs.length * per);
  for (const [i, bytes] of req.inputs.entries()) {
    try {
      const pixels = await decodeForReference(bytes);
      if (!pixels) continue;
      preprocessInto(pixels, spec, input, rows.length * per);
      rows.push(i);
    } catch {
      // Not decodable here: this input goes unchecked.
    }
  }
  const step = init.fixedBatch ?? Math.max(rows.length, 1);
  for (let first = 0; first < rows.length; first += step) {
    const n = Math.min(step, rows.length - first);
    const size = init.fixedBatch ?? n;
    let chunk = input.subarray(first * per, (first + n) * per);
    if (n < size) {
      const padded = new Float32Array(size * per);
      padded.set(chunk);
      chunk = padded;
    }
    const out = await session.run({ [init.inputName]: new ort.Tensor('float32', chunk, [size, 3, init.height, init.width]) });
    const logits = out[init.outputName]!.data as Float32Array;
    for (let j = 0; j < n; j++) probs[rows[first + j]!] = softmax(logits.subarray(j * init.numClasses, (j + 1) * init.numClasses));
  }
  return { id: req.id, probs, error: null };
}

parentPort!.on('message', (req: ReferenceRequest) => {
  answer(req).then(
    (reply) =>
      parentPort!.postMessage(
        reply,
        reply.probs.filter((p): p is Float32Array => p !== null).map((p) => p.buffer as ArrayBuffer),
      ),
    (err: unknown) => parentPort!.postMessage({ id: req.id, probs: [], error: (err as Error).message } satisfies ReferenceReply),
  );
});
parentPort!.postMessage('ready');
