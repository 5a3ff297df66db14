/**
 * A PNG's pixels as Pillow's `Image.open(f).convert('RGB')` gives them, decoded in JavaScript
 * (fast-png), so a tab and the coordinator's reference get the same bytes from the same code. A
 * browser's canvas cannot: it premultiplies alpha, so a half-transparent pixel comes back changed
 * and a fully transparent one black, where Pillow keeps the stored colour.
 *
 * Pillow's laws, per layout (each checked against Pillow itself, test/integration/shared/pillowParity.test.ts):
 * - 1-bit grey is 0 or 255; 2- and 4-bit grey are scaled (×85, ×17); 8-bit grey is repeated in R, G, B.
 * - 16-bit grey is opened as a 32-bit integer image, and convert('RGB') clips it to 0..255: a sample
 *   above 255 is white, not scaled.
 * - Every other 16-bit layout keeps the high byte of each sample (v >> 8).
 * - Alpha is dropped, not applied: RGBA, grey + alpha and palette entries made transparent by tRNS
 *   keep their stored colour, and so do pixels matching a tRNS colour key.
 * - Palette images look their indices up in PLTE; an index past the palette's end is black.
 */
import { decode } from 'fast-png';
import type { Rgb8 } from '../preprocess.ts';

/** PNG colour types by channel count as fast-png reports them (palette images have a palette). */
const GREY = 1;
const GREY_ALPHA = 2;
const RGB = 3;

/** Decodes `bytes` (a PNG) to 8-bit RGB; throws on corrupt data (a bad CRC, a truncated stream). */
export function decodePngRgb(bytes: Uint8Array): Rgb8 {
  const png = decode(bytes, { checkCrc: true });
  const { width, height, depth, channels } = png;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (png.palette) {
    const palette = png.palette;
    const indices = depth === 8 ? (png.data as Uint8Array) : unpack(png.data as Uint8Array, width, height, depth);
    for (let i = 0; i < n; i++) {
      const entry = palette[indices[i]!];
      if (!entry) continue;
      out[i * 3] = entry[0]!;
      out[i * 3 + 1] = entry[1]!;
      out[i * 3 + 2] = entry[2]!;
    }
    return { width, height, data: out };
  }
  if (depth === 16) {
    const d = png.data as Uint16Array;
    if (channels === GREY) {
      for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = Math.min(255, d[i]!);
    } else {
      for (let i = 0; i < n; i++) {
        const at = i * channels;
        const grey = channels <= GREY_ALPHA;
        out[i * 3] = d[at]! >> 8;
        out[i * 3 + 1] = d[grey ? at : at + 1]! >> 8;
        out[i * 3 + 2] = d[grey ? at : at + 2]! >> 8;
      }
    }
    return { width, height, data: out };
  }
  if (depth < 8) {
    // Only grey comes in fewer than 8 bits (palettes are handled above).
    const scale = 255 / ((1 << depth) - 1);
    const samples = unpack(png.data as Uint8Array, width, height, depth);
    for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = samples[i]! * scale;
    return { width, height, data: out };
  }
  const d = png.data as Uint8Array;
  if (channels === RGB) return { width, height, data: d.length === n * 3 ? d : d.slice(0, n * 3) };
  for (let i = 0; i < n; i++) {
    const at = i * channels;
    if (channels <= GREY_ALPHA) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = d[at]!;
    } else {
      out[i * 3] = d[at]!;
      out[i * 3 + 1] = d[at + 1]!;
      out[i * 3 + 2] = d[at + 2]!;
    }
  }
  return { width, height, data: out };
}

/** Samples of fewer than 8 bits, packed big-end first with each row starting on a byte, one to a byte. */
function unpack(packed: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)]!;
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}
