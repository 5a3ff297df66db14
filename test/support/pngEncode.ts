/**
 * A minimal PNG encoder for tests that need layouts pngjs cannot write: palette (with or without
 * tRNS), 1/2/4-bit grey and palette, 16-bit samples, and grey/RGB colour keys. No filtering,
 * no interlacing, no gamma or colour chunks (so every decoder sees the samples as stored).
 */
import { crc32, deflateSync } from 'node:zlib';

export type PngColorType = 0 | 2 | 3 | 4 | 6;

export interface PngImage {
  width: number;
  height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: PngColorType;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples row-major, `channels(colorType)` per pixel (palette: one index), each < 2^bitDepth. */
  samples: ArrayLike<number>;
  /** Palette entries as [r, g, b] (colour type 3). */
  palette?: readonly (readonly [number, number, number])[];
  /** tRNS: alpha per palette entry (type 3), or the transparent sample value(s) (types 0 and 2). */
  transparency?: readonly number[];
}

/** Samples per pixel of a PNG colour type. */
export function pngChannels(colorType: PngColorType): number {
  return { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** One scanline's bytes: filter type 0, then the samples packed MSB first (16-bit big-endian). */
function scanlines(img: PngImage): Buffer {
  const perRow = img.width * pngChannels(img.colorType);
  const rowBytes = Math.ceil((perRow * img.bitDepth) / 8);
  const out = Buffer.alloc(img.height * (rowBytes + 1));
  for (let y = 0; y < img.height; y++) {
    const base = y * (rowBytes + 1) + 1;
    for (let i = 0; i < perRow; i++) {
      const v = img.samples[y * perRow + i]!;
      if (img.bitDepth === 16) out.writeUInt16BE(v, base + i * 2);
      else if (img.bitDepth === 8) out[base + i] = v;
      else {
        const bit = i * img.bitDepth;
        out[base + (bit >> 3)]! |= v << (8 - img.bitDepth - (bit & 7));
      }
    }
  }
  return out;
}

/** Encodes `img` as a PNG file. */
export function encodePng(img: PngImage): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = img.bitDepth;
  ihdr[9] = img.colorType;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (img.palette) parts.push(chunk('PLTE', Uint8Array.from(img.palette.flat())));
  if (img.transparency) {
    const t = img.transparency;
    const trns = img.colorType === 3 ? Uint8Array.from(t) : Buffer.alloc(t.length * 2);
    if (img.colorType !== 3) t.forEach((v, i) => (trns as Buffer).writeUInt16BE(v, i * 2));
    parts.push(chunk('tRNS', trns));
  }
  parts.push(chunk('IDAT', deflateSync(scanlines(img))), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}
