/**
 * Decoding in Node, for the trusted reference (verification) and the tests: pngjs for PNG and
 * jpeg-js for JPEG, both returning 8-bit RGBA like the worker's canvas readback. Other formats are
 * not decoded here (their inputs go unverified; see verify/agreement.ts).
 *
 * PNG: 1/2/4/8/16-bit, grey, grey+alpha, RGB, RGBA and palette (with tRNS) all come back as RGBA;
 * 16-bit samples are reduced with rounding (v·255/65535). web/worker/decodeImage.ts relies on a
 * browser giving these same PNG pixels. Alpha is returned as stored, not applied or premultiplied.
 * Where PIL's Image.open(…).convert('RGB') differs (test/integration/shared/pillowParity.test.ts): 16-bit
 * samples, which PIL truncates to the high byte (and 16-bit grey, which it clamps to 255), and
 * pixels matching a grey or RGB tRNS colour key, which pngjs returns as 0, 0, 0, 0.
 *
 * JPEG: baseline and progressive, greyscale, YCbCr, and CMYK/YCCK (Adobe) via jpeg-js. Its IDCT
 * and chroma upsampling differ from libjpeg-turbo's, so expect ±a few levels against a browser.
 * EXIF orientation is ignored.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { Pixels } from '../../shared/preprocess.ts';

/** Refuse images above this many pixels, as the coordinator does (64 MP). */
export const MAX_DECODE_MEGAPIXELS = 64;

/** jpeg-js counts every buffer it allocates against this; a 64 MP CMYK JPEG needs under 1 GB. */
const JPEG_MAX_MEMORY_MB = 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export type DecodedFormat = 'png' | 'jpeg';

export function imageFormat(bytes: Uint8Array): DecodedFormat | null {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

function decodePng(bytes: Uint8Array): Pixels {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (png.width * png.height > MAX_DECODE_MEGAPIXELS * 1e6) {
    throw new RangeError(`PNG is ${png.width}×${png.height}, over the ${MAX_DECODE_MEGAPIXELS} MP limit`);
  }
  return {
    width: png.width,
    height: png.height,
    channels: 4,
    data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
  };
}

function decodeJpeg(bytes: Uint8Array): Pixels {
  const img = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: true,
    maxResolutionInMP: MAX_DECODE_MEGAPIXELS,
    maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
  });
  return { width: img.width, height: img.height, channels: 4, data: img.data };
}

/** Decodes a PNG or JPEG file to RGBA pixels; throws on anything else or on corrupt data. */
export function decodeImage(bytes: Uint8Array): Pixels {
  const format = imageFormat(bytes);
  if (format === 'png') return decodePng(bytes);
  if (format === 'jpeg') return decodeJpeg(bytes);
  throw new TypeError('not a PNG or JPEG file');
}
