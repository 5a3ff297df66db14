/**
 * Decoding in the worker: createImageBitmap at the image's own size, then OffscreenCanvas
 * getImageData. With colour-space conversion and premultiplication off this gives the same pixels
 * as pngjs for 8-bit, 16-bit, grey, palette and RGBA PNGs (field notes), so the Node reference
 * can check the whole pipeline exactly.
 */
import { sniffImage } from '../../shared/imageHeader.ts';
import { TabpoolError } from '../../shared/errors.ts';
import type { Pixels } from '../../shared/preprocess.ts';

let canvas: OffscreenCanvas | null = null;
let context: OffscreenCanvasRenderingContext2D | null = null;

export async function decodeImage(bytes: Uint8Array): Promise<Pixels> {
  const header = sniffImage(bytes);
  if (!header.ok) throw new TabpoolError(header.code, header.message);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: header.mime }), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch (err) {
    throw new TabpoolError(
      'CORRUPT_IMAGE',
      `the ${header.format.toUpperCase()} data could not be decoded (${(err as Error).message || 'decoder error'})`,
    );
  }
  try {
    const { width, height } = bitmap;
    if (!canvas || !context) {
      canvas = new OffscreenCanvas(width, height);
      context = canvas.getContext('2d', { willReadFrequently: true });
      if (!context) throw new Error('OffscreenCanvas 2d context is unavailable');
    } else if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    context.clearRect(0, 0, width, height);
    context.drawImage(bitmap, 0, 0);
    const data = context.getImageData(0, 0, width, height).data;
    return { width, height, channels: 4, data };
  } finally {
    bitmap.close();
  }
}
