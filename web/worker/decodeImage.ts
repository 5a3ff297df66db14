/**
 * The tab's decoder for what a browser decodes natively (JPEG, GIF, WebP, BMP): createImageBitmap
 * at the image's own size, then OffscreenCanvas getImageData, colour-space conversion and
 * premultiplication off. PNGs never come here: shared/decode/imageInput.ts decodes them in
 * JavaScript, the same code as the reference's, because a canvas premultiplies alpha. The bytes
 * arrive with their EXIF orientation made 1, so Chromium (which applies it whatever
 * `imageOrientation` says) gives the pixels as stored, as Pillow does.
 */
import type { ImageFormatHeader } from '../../shared/decode/imageInput.ts';
import { TabpoolError } from '../../shared/errors.ts';
import type { Pixels } from '../../shared/pixels.ts';

let canvas: OffscreenCanvas | null = null;
let context: OffscreenCanvasRenderingContext2D | null = null;

export async function decodeWithCanvas(bytes: Uint8Array, header: ImageFormatHeader): Promise<Pixels> {
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
