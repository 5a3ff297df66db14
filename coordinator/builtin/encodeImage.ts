/**
 * PNG (pngjs) and JPEG (jpeg-js) encoding of 8-bit RGB pixels, byte-for-byte reproducible: pngjs
 * is given fflate's pure-JavaScript `zlibSync` (version pinned exactly in package.json) through
 * its `deflateFactory` hook instead of Node's zlib, whose output may change between releases, and
 * jpeg-js is plain JavaScript without trigonometry at run time.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { createDeflate } from 'node:zlib';
import { zlibSync, type ZlibOptions } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG, type ColorType } from 'pngjs';

/** How a PNG stores its pixels: 8- or 16-bit RGB, RGBA (opaque) or grey. */
export type PngLayout = 'rgb8' | 'rgba8' | 'grey8' | 'rgb16' | 'grey16';

const COLOR_TYPE: Readonly<Record<PngLayout, ColorType>> = { rgb8: 2, rgba8: 6, grey8: 0, rgb16: 2, grey16: 0 };

// An explicit `mem`, because fflate otherwise derives it from Math.log of the input length, and
// Math.log is not required to round the same way on every engine.
const ZLIB_OPTIONS: ZlibOptions = { level: 9, mem: 8 };

/** A Transform that collects the filtered scanlines and emits them as one zlib stream. */
function deterministicDeflate(): Transform {
  const chunks: Buffer[] = [];
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      chunks.push(chunk);
      done();
    },
    flush(done: TransformCallback) {
      done(null, Buffer.from(zlibSync(Buffer.concat(chunks), ZLIB_OPTIONS)));
    },
  });
}

/**
 * 16-bit samples v·256 + lo with |lo − v| < 128 reduce to exactly v both by rounding (pngjs,
 * libpng's scale_16) and by dropping the low byte (libpng's strip_16), so the file carries real
 * 16-bit data yet decodes to the 8-bit pixels whichever way a decoder reduces it.
 */
function widen(rgb: Uint8Array, width: number, height: number, grey: boolean): Uint16Array {
  const channels = grey ? 1 : 3;
  const out = new Uint16Array(width * height * channels);
  for (let p = 0, i = 0; p < width * height; p++) {
    for (let k = 0; k < channels; k++, i++) {
      const v = rgb[p * 3 + k]!;
      const lo = v + ((p * 7 + k * 13) % 199) - 99;
      out[i] = v * 256 + Math.min(255, Math.max(0, lo));
    }
  }
  return out;
}

function opaqueRgba(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4).fill(255);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = rgb[p * 3]!;
    rgba[p * 4 + 1] = rgb[p * 3 + 1]!;
    rgba[p * 4 + 2] = rgb[p * 3 + 2]!;
  }
  return rgba;
}

/** Encodes 8-bit RGB as a PNG of the given layout; for grey layouts the red channel is stored. */
export async function encodePng(rgb: Uint8Array, width: number, height: number, layout: PngLayout): Promise<Uint8Array> {
  const sixteen = layout === 'rgb16' || layout === 'grey16';
  const grey = layout === 'grey8' || layout === 'grey16';
  let data: Buffer;
  if (sixteen) {
    const wide = widen(rgb, width, height, grey);
    data = Buffer.from(wide.buffer, wide.byteOffset, wide.byteLength);
  } else if (grey) {
    data = Buffer.alloc(width * height);
    for (let p = 0; p < width * height; p++) data[p] = rgb[p * 3]!;
  } else if (layout === 'rgba8') {
    const rgba = opaqueRgba(rgb, width, height);
    data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  } else {
    data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  }
  const png = new PNG({
    width,
    height,
    bitDepth: sixteen ? 16 : 8,
    colorType: COLOR_TYPE[layout],
    inputColorType: COLOR_TYPE[layout],
    inputHasAlpha: layout === 'rgba8',
    deflateFactory: deterministicDeflate as unknown as typeof createDeflate,
  });
  png.data = data;
  return new Promise<Uint8Array>((resolve, reject) => {
    const parts: Buffer[] = [];
    png.on('data', (part: Buffer) => parts.push(part));
    png.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    png.on('error', (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))));
    png.pack();
  });
}

/** Encodes 8-bit RGB as a baseline JPEG (4:4:4, jpeg-js's encoder). */
export function encodeJpeg(rgb: Uint8Array, width: number, height: number, quality: number): Uint8Array {
  return new Uint8Array(jpeg.encode({ width, height, data: opaqueRgba(rgb, width, height) }, quality).data);
}
