/**
 * Pixels for the trusted reference, decoded as a tab decodes them, so an honest tab and the
 * reference see the same picture. Both go through shared/decode/imageInput.ts (PNG decoded there in
 * JavaScript, EXIF orientation handled there); this is the reference's decoder for the rest, each
 * case measured against Chromium's `createImageBitmap` + canvas readback, pixel for pixel:
 * - JPEG, WebP and GIF with sharp (libvips on libjpeg-turbo, libwebp, libgif): JPEG identical to
 *   Chromium and to Pillow (0 of 195,951 samples differ, baseline, progressive, 4:2:0, 4:4:4, grey);
 * - CMYK and YCCK JPEGs: the raw CMYK bands from sharp (no colour management), turned into RGB as
 *   Blink's JPEGImageDecoder does for Adobe's inverted CMYK: R = ⌊C'·K'/255⌋ with C' = 255 − C
 *   (identical to Chromium on test/fixtures/cmyk.jpg);
 * - BMP at 4, 8, 24 and 32 bits per pixel, uncompressed or bit fields, with bmp-ts.
 * What is not decoded here (1- and 16-bit or RLE BMPs, which bmp-ts reads differently from Chromium)
 * comes back null: such an input cannot be checked, and the verifier never counts it as compared.
 */
import * as bmp from 'bmp-ts';
import sharp, { type Sharp } from 'sharp';
import { decodeImageInput, type DecodeOptions, type ImageFormatHeader } from '../../shared/decode/imageInput.ts';
import { MAX_IMAGE_PIXELS } from '../../shared/imageHeader.ts';
import type { Pixels } from '../../shared/preprocess.ts';

/** BMP layouts bmp-ts decodes exactly as Chromium does (measured). */
const BMP_BITS = new Set([4, 8, 24, 32]);
const BI_RGB = 0;
const BI_BITFIELDS = 3;

/** The input's pixels as a tab decodes them, or null where the reference cannot decode it (the input then goes unchecked). */
export async function decodeForReference(bytes: Uint8Array, o: DecodeOptions): Promise<Pixels | null> {
  try {
    return await decodeImageInput(bytes, o, decodeOthers);
  } catch {
    return null;
  }
}

async function decodeOthers(bytes: Uint8Array, header: ImageFormatHeader): Promise<Pixels> {
  if (header.format === 'bmp') {
    const px = decodeBmp(bytes);
    if (!px) throw new Error('a BMP layout the reference does not decode as Chromium does');
    return px;
  }
  const image = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error', ignoreIcc: true });
  const meta = await image.metadata();
  if (!['jpeg', 'webp', 'gif'].includes(meta.format ?? '')) throw new Error(`sharp reads it as ${meta.format}`);
  if (meta.space === 'cmyk') return await invertedCmykToRgb(image);
  // Raw pixels as stored: no orientation (imageInput.ts decides that), no colour management (the tabs ask for none).
  const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
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
