/**
 * The CPU reference: onnxruntime-node on tensors preprocessed in Node by the same shared
 * preprocessing the worker uses, from pixels decoded by pngjs/jpeg-js. Predictions from the
 * browser must match these.
 */
import fs from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { preprocessInto, preprocessSpecFor } from '../../shared/preprocess.ts';
import { inspectModel } from '../../coordinator/model/modelInfo.ts';
import { decodeImage } from './nodeDecode.ts';
import { decodeForReference } from '../../coordinator/actor/nodeDecode.ts';

export interface ReferencePrediction {
  top1: number;
  /** Gap between the best and second-best logit, to tell clear calls from near-ties. */
  margin: number;
  logits: Float32Array;
}

/**
 * `decode`: `node` (pngjs / jpeg-js, independent of the coordinator), or `chromium` (the
 * coordinator's reference decoding, for formats only it reads as Chromium does: CMYK JPEG, BMP).
 */
export async function referencePredictions(
  modelPath: string,
  files: { id: string; path: string }[],
  decode: 'node' | 'chromium' = 'node',
): Promise<Map<string, ReferencePrediction>> {
  const bytes = await fs.readFile(modelPath);
  const info = inspectModel(bytes, modelPath);
  const session = await ort.InferenceSession.create(bytes);
  const spec = preprocessSpecFor(info.inputShape.height, info.inputShape.width);
  const per = 3 * spec.height * spec.width;
  const out = new Map<string, ReferencePrediction>();
  for (const f of files) {
    const input = new Float32Array(per);
    const file = await fs.readFile(f.path);
    const pixels = decode === 'node' ? decodeImage(file) : await decodeForReference(file, { exifTranspose: false });
    if (!pixels) throw new Error(`${f.path}: the reference cannot decode it`);
    preprocessInto(pixels, spec, input, 0);
    const result = await session.run({ [info.inputName]: new ort.Tensor('float32', input, [1, 3, spec.height, spec.width]) });
    const logits = result[info.outputName]!.data as Float32Array;
    let top1 = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[top1]!) top1 = i;
    let second = -Infinity;
    for (let i = 0; i < logits.length; i++) if (i !== top1 && logits[i]! > second) second = logits[i]!;
    out.set(f.id, { top1, margin: logits[top1]! - second, logits: Float32Array.from(logits) });
  }
  await session.release();
  return out;
}

/** Largest |a - b| relative to the reference's largest |logit|. */
export function maxRelativeDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (scale || 1));
  return worst;
}

export interface Row {
  id: string;
  class?: number;
  label?: string;
  score?: number;
  topk?: { class: number; label: string; score: number }[];
  logits?: number[];
  error: null | { code: string; message: string };
}

export async function readRows(file: string): Promise<Row[]> {
  const text = await fs.readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}
