/**
 * Image format and size from the first bytes of a file, without decoding pixels: PNG's IHDR, the
 * JPEG frame header (SOFn), GIF's logical screen, WebP's VP8/VP8L/VP8X chunk, BMP's info header.
 *
 * Run before a decode so that an empty file, a non-image, a truncated header or a decompression
 * bomb becomes a per-input error row instead of a tab that runs out of memory.
 */

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp';

/** Per-input error codes `sniffImage` can give; all are codes of `shared/errors.ts`. */
export type ImageHeaderErrorCode = 'EMPTY_FILE' | 'NOT_AN_IMAGE' | 'CORRUPT_IMAGE' | 'IMAGE_TOO_LARGE';

export type ImageHeader =
  | {
      ok: true;
      format: ImageFormat;
      /** Stored size in pixels, before any EXIF orientation is applied. */
      width: number;
      height: number;
      mime: string;
    }
  | { ok: false; code: ImageHeaderErrorCode; message: string };

/**
 * The decode limit: 64 megapixels (64,000,000), which is 256 MB of RGBA in a tab. Larger headers
 * are refused as decompression bombs; a 9000×7000 photo (63 MP) still passes.
 */
export const MAX_IMAGE_PIXELS = 64_000_000;

const MIME: Readonly<Record<ImageFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
};

const NAME: Readonly<Record<ImageFormat, string>> = {
  png: 'PNG',
  jpeg: 'JPEG',
  gif: 'GIF',
  webp: 'WebP',
  bmp: 'BMP',
};

/** Signatures; `null` matches any byte (the RIFF chunk size). */
const SIGNATURES: ReadonlyArray<{ format: ImageFormat; magic: ReadonlyArray<number | null> }> = [
  { format: 'png', magic: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { format: 'jpeg', magic: [0xff, 0xd8, 0xff] },
  { format: 'gif', magic: [0x47, 0x49, 0x46, 0x38] }, // "GIF8", then "7a" or "9a"
  { format: 'webp', magic: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50] },
  { format: 'bmp', magic: [0x42, 0x4d] },
];

/** Formats we can name but a browser tab cannot decode (or that are not images at all). */
const OTHER_FORMATS: ReadonlyArray<{ name: string; magic: ReadonlyArray<number | null> }> = [
  { name: 'a TIFF image', magic: [0x49, 0x49, 0x2a, 0x00] },
  { name: 'a TIFF image', magic: [0x4d, 0x4d, 0x00, 0x2a] },
  { name: 'an ISO media file (AVIF, HEIC or MP4)', magic: [null, null, null, null, 0x66, 0x74, 0x79, 0x70] },
  { name: 'an ICO icon', magic: [0x00, 0x00, 0x01, 0x00] },
  { name: 'a PDF document', magic: [0x25, 0x50, 0x44, 0x46] },
  { name: 'a ZIP archive', magic: [0x50, 0x4b, 0x03, 0x04] },
  { name: 'a gzip archive', magic: [0x1f, 0x8b] },
];

const ACCEPTED = 'PNG, JPEG, GIF, WebP or BMP';

type Failure = Extract<ImageHeader, { ok: false }>;

function fail(code: ImageHeaderErrorCode, message: string): Failure {
  return { ok: false, code, message };
}

function truncated(format: ImageFormat, length: number, needed: number, what: string): Failure {
  return fail('CORRUPT_IMAGE', `${NAME[format]} file is truncated: ${length} bytes, but its ${what} needs ${needed}`);
}

function matches(bytes: Uint8Array, magic: ReadonlyArray<number | null>, upTo = magic.length): boolean {
  for (let i = 0; i < upTo; i++) {
    const want = magic[i];
    if (want !== null && bytes[i] !== want) return false;
  }
  return true;
}

function u16be(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}
function u16le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}
function u24le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}
function u32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
function i32le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}
function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

function megapixels(pixels: number): string {
  const mp = pixels / 1e6;
  return mp >= 100 ? String(Math.round(mp)) : String(Number(mp.toFixed(2)));
}

/** The size checks every format shares: no zero side, no bomb. */
function sized(format: ImageFormat, width: number, height: number): ImageHeader {
  if (width === 0 || height === 0) {
    return fail('CORRUPT_IMAGE', `${NAME[format]} header claims ${width}×${height} pixels; an image needs a width and height of at least 1`);
  }
  const pixels = width * height;
  if (pixels > MAX_IMAGE_PIXELS) {
    return fail(
      'IMAGE_TOO_LARGE',
      `${NAME[format]} header claims ${width}×${height} pixels (${megapixels(pixels)} MP), over the ${megapixels(MAX_IMAGE_PIXELS)} MP limit`,
    );
  }
  return { ok: true, format, width, height, mime: MIME[format] };
}

function sniffPng(b: Uint8Array): ImageHeader {
  // Signature (8), then the first chunk: length (4), type (4), IHDR's width (4) and height (4).
  if (b.length < 24) return truncated('png', b.length, 24, 'IHDR header');
  const type = ascii(b, 12, 4);
  if (type !== 'IHDR') return fail('CORRUPT_IMAGE', `PNG's first chunk is "${type}", but it must be IHDR`);
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  if (width > 0x7fffffff || height > 0x7fffffff) {
    return fail('CORRUPT_IMAGE', `PNG header claims ${width}×${height} pixels, over the format's 2^31-1 limit per side`);
  }
  return sized('png', width, height);
}

function isSofMarker(m: number): boolean {
  // SOF0–SOF15 are C0–CF, except C4 (DHT), C8 (JPG, reserved) and CC (DAC).
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

function sniffJpeg(b: Uint8Array): ImageHeader {
  let i = 2;
  for (;;) {
    // libjpeg skips stray bytes between segments (with a warning); do the same to find the next marker.
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++; // fill bytes
    if (i >= b.length) return fail('CORRUPT_IMAGE', `JPEG file is truncated: it ends after ${b.length} bytes, before its frame header (SOF marker)`);
    const marker = b[i]!;
    i++;
    if (marker === 0x00) continue; // a stuffed 0xFF00 outside entropy data: not a marker
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // SOI, TEM, RSTn: no length
    if (marker === 0xd9 || marker === 0xda) {
      const name = marker === 0xd9 ? 'end of image (EOI)' : 'scan data (SOS)';
      return fail('CORRUPT_IMAGE', `JPEG reaches its ${name} at byte ${i - 2} without a frame header (SOF marker)`);
    }
    if (i + 2 > b.length) return truncated('jpeg', b.length, i + 2, `segment at byte ${i - 2}`);
    const length = u16be(b, i);
    if (length < 2) return fail('CORRUPT_IMAGE', `JPEG segment 0xFF${hex(marker)} at byte ${i - 2} has an impossible length ${length}`);
    if (isSofMarker(marker)) {
      // Length (2), precision (1), height (2), width (2), components (1).
      if (length < 8) return fail('CORRUPT_IMAGE', `JPEG frame header (SOF${marker - 0xc0}) is ${length} bytes, but it needs at least 8`);
      if (i + 7 > b.length) return truncated('jpeg', b.length, i + 7, `frame header (SOF${marker - 0xc0})`);
      return sized('jpeg', u16be(b, i + 5), u16be(b, i + 3));
    }
    i += length;
  }
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

function sniffGif(b: Uint8Array): ImageHeader {
  if (b.length >= 6) {
    const version = ascii(b, 0, 6);
    if (version !== 'GIF87a' && version !== 'GIF89a') {
      return fail('NOT_AN_IMAGE', `file starts with "${version}", which is neither GIF87a nor GIF89a`);
    }
  }
  if (b.length < 10) return truncated('gif', b.length, 10, 'logical screen descriptor');
  return sized('gif', u16le(b, 6), u16le(b, 8));
}

function sniffWebp(b: Uint8Array): ImageHeader {
  // RIFF header (12), chunk FourCC (4) and size (4), then the chunk's own header.
  if (b.length < 20) return truncated('webp', b.length, 20, 'first chunk header');
  const chunk = ascii(b, 12, 4);
  switch (chunk) {
    case 'VP8 ': {
      // Lossy: 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height (2 scale bits each).
      if (b.length < 30) return truncated('webp', b.length, 30, 'VP8 frame header');
      if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) {
        return fail('CORRUPT_IMAGE', 'WebP VP8 chunk lacks the key frame start code 9D 01 2A');
      }
      return sized('webp', u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff);
    }
    case 'VP8L': {
      // Lossless: signature 0x2F, then width-1 and height-1 as two 14-bit fields, little-endian bits.
      if (b.length < 25) return truncated('webp', b.length, 25, 'VP8L header');
      if (b[20] !== 0x2f) return fail('CORRUPT_IMAGE', `WebP VP8L chunk has signature 0x${hex(b[20]!)}, expected 0x2F`);
      const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0;
      return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
    }
    case 'VP8X': {
      // Extended: flags (1), reserved (3), canvas width-1 (24 bits), canvas height-1 (24 bits).
      if (b.length < 30) return truncated('webp', b.length, 30, 'VP8X header');
      return sized('webp', u24le(b, 24) + 1, u24le(b, 27) + 1);
    }
    default:
      return fail('CORRUPT_IMAGE', `WebP's first chunk is "${chunk.trimEnd()}", expected VP8, VP8L or VP8X`);
  }
}

/** DIB header sizes of the BMP variants: OS/2 1.x core, OS/2 2.x, Windows v1–v5. */
const BMP_INFO_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

function sniffBmp(b: Uint8Array): ImageHeader {
  if (b.length < 18) return truncated('bmp', b.length, 18, 'file header');
  const infoSize = i32le(b, 14) >>> 0;
  if (!BMP_INFO_SIZES.has(infoSize)) {
    // Two bytes "BM" is a weak signature (any text starting "BM"), so an unknown header is not a BMP.
    return fail('NOT_AN_IMAGE', `file starts with "BM" but has no BMP info header (header size ${infoSize} is not a BMP's)`);
  }
  if (infoSize === 12) {
    if (b.length < 22) return truncated('bmp', b.length, 22, 'core header');
    return sized('bmp', u16le(b, 18), u16le(b, 20));
  }
  if (b.length < 26) return truncated('bmp', b.length, 26, 'info header');
  const width = i32le(b, 18);
  const height = i32le(b, 22);
  if (width < 0) return fail('CORRUPT_IMAGE', `BMP header claims a negative width (${width})`);
  // A negative height marks a top-down bitmap; the size is its absolute value.
  return sized('bmp', width, Math.abs(height));
}

const SNIFFERS: Readonly<Record<ImageFormat, (b: Uint8Array) => ImageHeader>> = {
  png: sniffPng,
  jpeg: sniffJpeg,
  gif: sniffGif,
  webp: sniffWebp,
  bmp: sniffBmp,
};

/**
 * Reads the format and pixel size from an image's header. Never throws; failures come back as
 * `{ok: false}` with EMPTY_FILE, NOT_AN_IMAGE, CORRUPT_IMAGE (truncated header, zero side) or
 * IMAGE_TOO_LARGE (over `MAX_IMAGE_PIXELS`).
 */
export function sniffImage(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) return fail('EMPTY_FILE', 'file is empty (0 bytes)');
  for (const { format, magic } of SIGNATURES) {
    // A file shorter than the signature but matching its start is a truncated image, not a non-image.
    const whole = bytes.length >= magic.length;
    if (whole ? matches(bytes, magic) : bytes.length >= 2 && matches(bytes, magic, bytes.length)) {
      if (!whole) return truncated(format, bytes.length, magic.length, 'signature');
      return SNIFFERS[format](bytes);
    }
  }
  for (const { name, magic } of OTHER_FORMATS) {
    if (bytes.length >= magic.length && matches(bytes, magic)) {
      return fail('NOT_AN_IMAGE', `file is ${name}, not a ${ACCEPTED} image`);
    }
  }
  const head = Array.from(bytes.subarray(0, 8), hex).join(' ');
  return fail('NOT_AN_IMAGE', `file starts with bytes ${head}, which match no ${ACCEPTED} signature`);
}
