/**
 * Pixels for the trusted reference, decoded as Chromium decodes them, so an honest tab and the
 * reference see the same picture (each case measured against Chromium's `createImageBitmap` +
 * canvas readback, pixel for pixel):
 * - PNG with pngjs;
 * - JPEG, WebP and GIF with sharp (libvips on libjpeg-turbo, libwebp, libgif);
 * - CMYK and YCCK JPEGs: the raw CMYK bands from sharp (no colour management), turned into RGB as
 *   Blink's JPEGImageDecoder does for Adobe's inverted CMYK: R = ⌊C'·K'/255⌋ with C' = 255 − C
 *   (identical to Chromium on test/fixtures/cmyk.jpg);
 * - BMP at 4, 8, 24 and 32 bits per pixel, uncompressed or bit fields, with bmp-ts.
 * What is not decoded here (1- and 16-bit or RLE BMPs, which bmp-ts reads differently from Chromium)
 * comes back null: such an input cannot be checked, and the verifier never counts it as compared.
 */
import * as bmp from 'bmp-ts';
import sharp, { type Sharp } from 'sharp';
import { MAX_IMAGE_PIXELS } from '../../shared/imageHeader.ts';
import type { Pixels } from '../../shared/preprocess.ts';
import { decodeImage, imageFormat } from './decodeImage.ts';

/** BMP layouts bmp-ts decodes exactly as Chromium does (measured). */
const BMP_BITS = new Set([4, 8, 24, 32]);
const BI_RGB = 0;
const BI_BITFIELDS = 3;

export async function decodeForReference(bytes: Uint8Array): Promise<Pixels | null> {
  if (imageFormat(bytes) === 'png') return decodeImage(bytes);
  if (bytes[0] === 0x42 && bytes[1] === 0x4d) return decodeBmp(bytes);
  try {
    const image = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error', ignoreIcc: true });
    const meta = await image.metadata();
    if (!['jpeg', 'webp', 'gif'].includes(meta.format ?? '')) return null;
    if (meta.space === 'cmyk') return await invertedCmykToRgb(image);
    // Raw pixels as stored: no orientation, no colour management (the tabs ask for neither).
    const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch {
    return null;
  }
}

async function invertedCmykToRgb(image: Sharp): Promise<Pixels> {
  const { data, info } = await image.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const k = 255 - data[i * 4 + 3]!;
    out[i * 4] = Math.floor(((255 - data[i * 4]!) * k) / 255);
    out[i * 4 + 1] = Math.floor(((255 - data[i * 4 + 1]!) * k) / 255);
    out[i * 4 + 2] = Math.floor(((255 - data[i * 4 + 2]!) * k) / 255);
    out[i * 4 + 3] = 255;
  }
  return { width: info.width, height: info.height, channels: 4, data: out };
}

function decodeBmp(bytes: Uint8Array): Pixels | null {
  try {
    const decoded = bmp.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { toRGBA: true });
    if (!BMP_BITS.has(decoded.bitPP ?? 0) || ![BI_RGB, BI_BITFIELDS].includes(decoded.compression ?? BI_RGB)) return null;
    if (decoded.width * Math.abs(decoded.height) > MAX_IMAGE_PIXELS) return null;
    return {
      width: decoded.width,
      height: Math.abs(decoded.height),
      channels: 4,
      data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength),
    };
  } catch {
    return null;
  }
}
