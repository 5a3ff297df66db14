/**
 * EXIF orientation, read and handled the same way in a tab and in the coordinator's reference.
 *
 * A phone writes its photos as the sensor saw them and says in EXIF how to turn them (tag 0x0112,
 * 1 to 8). Pillow's `Image.open`, torchvision's `decode_jpeg` and Ray's `read_images` ignore the tag;
 * Chromium's `createImageBitmap` applies it to JPEGs and PNGs whatever `imageOrientation` asks.
 * So a tab first makes the tag say 1 in a copy of the bytes (`withoutOrientation`), and both sides
 * decode the stored pixels. A job that wants photos upright turns them with `orient`, exactly as
 * Pillow's `ImageOps.exif_transpose` does, on both sides.
 *
 * Where the tag is read: the first APP1 "Exif" segment of a JPEG (before its scan data), a PNG's
 * eXIf chunk, a WebP's EXIF chunk; in each, the TIFF header's first IFD, a SHORT value. Anything
 * else (no EXIF, a value outside 1–8, a truncated or looping structure) counts as 1.
 */
import type { Pixels } from '../pixels.ts';

/** Where the tag's two bytes sit in the file, in the TIFF block's byte order, and what they say. */
interface Tag {
  at: number;
  littleEndian: boolean;
  value: number;
}

const ORIENTATION = 0x0112;
const SHORT = 3;
const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));

/** The orientation tag in the TIFF block at `start` (of `length` bytes), or null. */
function tiffTag(b: Uint8Array, start: number, length: number): Tag | null {
  const end = Math.min(b.length, start + length);
  if (end - start < 8) return null;
  const order = ascii(b, start, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const le = order === 'II';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint16(start + 2, le) !== 42) return null;
  const ifd = start + v.getUint32(start + 4, le);
  if (ifd + 2 > end) return null;
  const count = v.getUint16(ifd, le);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return null;
    if (v.getUint16(entry, le) !== ORIENTATION) continue;
    if (v.getUint16(entry + 2, le) !== SHORT || v.getUint32(entry + 4, le) !== 1) return null;
    return { at: entry + 8, littleEndian: le, value: v.getUint16(entry + 8, le) };
  }
  return null;
}

function jpegTag(b: Uint8Array): Tag | null {
  for (let i = 2; i + 4 <= b.length;) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    // Scan data, or the end: no metadata after this.
    if (marker === 0xda || marker === 0xd9) return null;
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (length < 2) return null;
    if (marker === 0xe1 && length >= 8 && ascii(b, i + 4, 6) === 'Exif\0\0') return tiffTag(b, i + 10, length - 8);
    i += 2 + length;
  }
  return null;
}

function pngTag(b: Uint8Array): Tag | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 8; i + 8 <= b.length;) {
    const length = v.getUint32(i);
    const type = ascii(b, i + 4, 4);
    if (type === 'eXIf') return tiffTag(b, i + 8, length);
    if (type === 'IEND') return null;
    i += 12 + length;
  }
  return null;
}

function webpTag(b: Uint8Array): Tag | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 12; i + 8 <= b.length;) {
    const type = ascii(b, i, 4);
    const length = v.getUint32(i + 4, true);
    if (type === 'EXIF') {
      // Some writers keep JPEG's "Exif\0\0" prefix inside the chunk; Pillow reads both.
      const prefixed = ascii(b, i + 8, 6) === 'Exif\0\0';
      return prefixed ? tiffTag(b, i + 14, length - 6) : tiffTag(b, i + 8, length);
    }
    i += 8 + length + (length & 1);
  }
  return null;
}

function findTag(b: Uint8Array): Tag | null {
  try {
    if (b[0] === 0xff && b[1] === 0xd8) return jpegTag(b);
    if (b[0] === 0x89 && ascii(b, 1, 3) === 'PNG') return pngTag(b);
    if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return webpTag(b);
  } catch {
    // A structure that runs past the end: no orientation.
  }
  return null;
}

/** The image's EXIF orientation, 1 to 8; 1 where it has none (or one that makes no sense). */
export function exifOrientation(bytes: Uint8Array): number {
  const tag = findTag(bytes);
  return tag && tag.value >= 1 && tag.value <= 8 ? tag.value : 1;
}

/** The bytes with their orientation tag made 1 (a copy), so a browser decodes the pixels as stored; the same bytes when there is none. */
export function withoutOrientation(bytes: Uint8Array): Uint8Array {
  const tag = findTag(bytes);
  if (!tag || tag.value === 1) return bytes;
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint16(tag.at, 1, tag.littleEndian);
  return copy;
}

/**
 * The pixels turned as Pillow's `ImageOps.exif_transpose` turns them for `orientation`: 2 mirrors,
 * 3 rotates 180°, 4 flips, 5 transposes, 6 rotates 90° clockwise, 7 transverses, 8 rotates 90°
 * anticlockwise. 1 (or anything else) leaves them as they are.
 */
export function orient(px: Pixels, orientation: number): Pixels {
  if (orientation < 2 || orientation > 8) return px;
  const { width: w, height: h, channels: c } = px;
  const swap = orientation >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7:
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        default:
          [sx, sy] = [w - 1 - y, x];
      }
      const from = (sy * w + sx) * c;
      const to = (y * ow + x) * c;
      for (let k = 0; k < c; k++) out[to + k] = px.data[from + k]!;
    }
  }
  return { width: ow, height: oh, channels: c, data: out };
}
