/**
 * Turns a batch frame's image bytes into the model's input tensor: decode, resize, crop,
 * normalise, NCHW. Inputs that fail become error items; the rest are packed densely.
 */
import { serializeError } from '../../shared/errors.ts';
import { preprocessInto, preprocessSpecFor } from '../../shared/preprocess.ts';
import type { Prepared, ItemSlice } from '../workerApi.ts';
import { decodeImage } from './decodeImage.ts';

export async function prepareBatch(frame: ArrayBuffer, slices: ItemSlice[], height: number, width: number): Promise<Prepared> {
  const started = performance.now();
  const spec = preprocessSpecFor(height, width);
  const per = 3 * height * width;
  const input = new Float32Array(slices.length * per);
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  for (const [i, s] of slices.entries()) {
    try {
      const pixels = await decodeImage(new Uint8Array(frame, s.offset, s.length));
      preprocessInto(pixels, spec, input, rows.length * per);
      rows.push(i);
    } catch (err) {
      errors[i] = serializeError(err, 'CORRUPT_IMAGE');
    }
  }
  return { input, rows, errors, decodeMs: performance.now() - started };
}
