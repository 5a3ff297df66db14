/**
 * Pixels for the trusted reference, decoded as a browser decodes them, so an honest tab and the
 * reference see the same picture: PNG with pngjs, JPEG, WebP and GIF with sharp (libvips on
 * libjpeg-turbo, libwebp, libgif: pixel-identical to Chromium's `createImageBitmap`, measured on
 * the sample set). CMYK JPEGs (colour-converted differently) and BMPs are not decoded here: their
 * inputs go unverified.
 */
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../../shared/imageHeader.ts';
import type { Pixels } from '../../shared/preprocess.ts';
import { decodeImage, imageFormat } from './decodeImage.ts';

export async function decodeForReference(bytes: Uint8Array): Promise<Pixels | null> {
  if (imageFormat(bytes) === 'png') return decodeImage(bytes);
  try {
    const image = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' });
    const meta = await image.metadata();
    if (!['jpeg', 'webp', 'gif'].includes(meta.format ?? '') || meta.space === 'cmyk') return null;
    // Raw pixels as stored: no orientation, no colour management (the tabs ask for neither).
    const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch {
    return null;
  }
}
