/**
 * Independent references for the example actors: onnxruntime-node on tensors this file makes (the
 * shared, Pillow-exact preprocessing over pngjs's pixels), never through the actor modules, so a
 * wrong actor or a wrong pipeline shows as a difference.
 */
import fs from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { decodeImage } from './nodeDecode.ts';
import { preprocessInto, preprocessSpecFor } from '../../shared/preprocess.ts';

/** Each image's pooled features from a `*-features` model of input size `size`. */
export async function referenceFeatures(
  modelPath: string,
  files: { id: string; path: string }[],
  size: number,
): Promise<Map<string, Float32Array>> {
  const session = await ort.InferenceSession.create(modelPath);
  const spec = preprocessSpecFor(size, size);
  const out = new Map<string, Float32Array>();
  for (const f of files) {
    const input = new Float32Array(3 * size * size);
    preprocessInto(decodeImage(await fs.readFile(f.path)), spec, input, 0);
    const r = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, size, size]) });
    out.set(f.id, Float32Array.from(r[session.outputNames[0]!]!.data as Float32Array));
  }
  await session.release();
  return out;
}

/** Each record's score by the scorer model. */
export async function referenceScores(modelPath: string, records: { id: string; features: number[] }[]): Promise<Map<string, number>> {
  const session = await ort.InferenceSession.create(modelPath);
  const out = new Map<string, number>();
  for (const r of records) {
    const res = await session.run({ features: new ort.Tensor('float32', Float32Array.from(r.features), [1, r.features.length]) });
    out.set(r.id, (res.score!.data as Float32Array)[0]!);
  }
  await session.release();
  return out;
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(n || 1);
}
