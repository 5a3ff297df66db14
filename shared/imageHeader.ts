/**
 * Image format and pixel size from the first bytes of a file, without decoding pixels, so that an
 * empty file, a non-image, a truncated header or a decompression bomb becomes a per-input error
 * row instead of a tab that runs out of memory.
 *
 * image-size reads the sizes and names the formats we refuse. Its parsers trust their input,
 * though: they read past the end of a view into the rest of its buffer, give a size for a
 * truncated VP8L header, misread OS/2 BMPs and take any text starting "BM" for one, and find a
 * JPEG frame header only if it is SOF0–SOF2 and not the first segment. So the checks that tell a
 * corrupt header from a good one stay here, and so does the JPEG marker walk.
 */
import { imageSize } from 'image-size';
import { typeHandlers } from 'image-size/types/index';

/** The formats a browser tab decodes for us. */
export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp';

/** Per-input error codes `sniffImage` can give; all are codes of `shared/errors.ts`. */
export type ImageHeaderErrorCode = 'EMPTY_FILE' | 'NOT_AN_IMAGE' | 'CORRUPT_IMAGE' | 'IMAGE_TOO_LARGE';

/** What `sniffImage` found: the format and stored size (before EXIF orientation), or why not. */
export type ImageHeader =
  | { ok: true; format: ImageFormat; width: number; height: number; mime: string }
  | { ok: false; code: ImageHeaderErrorCode; message: string };

/**
 * The decode limit: 64 megapixels (64,000,000), which is 256 MB of RGBA in a tab. Larger headers
 * are refused as decompression bombs; a 9000×7000 photo (63 MP) still passes.
 */
export const MAX_IMAGE_PIXELS = 64_000_000;

type Failure = Extract<ImageHeader, { ok: false }>;
type Size = { width: number; height: number };

const NAME: Readonly<Record<ImageFormat, string>> = { png: 'PNG', jpeg: 'JPEG', gif: 'GIF', webp: 'WebP', bmp: 'BMP' };
const ACCEPTED = 'PNG, JPEG, GIF, WebP or BMP';

/** Signatures; `null` matches any byte (the RIFF chunk size). */
const SIGNATURES: ReadonlyArray<readonly [ImageFormat, ReadonlyArray<number | null>]> = [
  ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['jpeg', [0xff, 0xd8, 0xff]],
  ['gif', [0x47, 0x49, 0x46, 0x38]],
  ['webp', [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50]],
  ['bmp', [0x42, 0x4d]],
];

/** Common files that are not images at all, which image-size has no name for. */
const NON_IMAGES = [
  ['a PDF document', '%PDF'],
  ['a ZIP archive', 'PK\x03\x04'],
  ['a gzip archive', '\x1f\x8b'],
] as const;
const TYPE_NAMES: Readonly<Record<string, string>> = {
  heif: 'HEIF/AVIF',
  jxl: 'JPEG XL',
  'jxl-stream': 'JPEG XL',
  jp2: 'JPEG 2000',
  j2c: 'JPEG 2000',
};
const OURS = new Set(['png', 'jpg', 'gif', 'webp', 'bmp']);

/** DIB header sizes of the BMP variants: OS/2 1.x core, OS/2 2.x, Windows v1–v5. */
const BMP_INFO_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);
/** Bytes up to the end of each WebP chunk header that holds the size. */
const WEBP_HEADER_BYTES: Readonly<Record<string, number>> = { 'VP8 ': 30, VP8L: 25, VP8X: 30 };

const fail = (code: ImageHeaderErrorCode, message: string): Failure => ({ ok: false, code, message });
const truncated = (format: ImageFormat, b: Uint8Array, needed: number, what: string): Failure =>
  fail('CORRUPT_IMAGE', `${NAME[format]} file is truncated: ${b.length} bytes, but its ${what} needs ${needed}`);
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));
const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
const megapixels = (pixels: number): string =>
  pixels >= 100e6 ? String(Math.round(pixels / 1e6)) : String(Number((pixels / 1e6).toFixed(2)));

function measure(format: ImageFormat, b: Uint8Array): Failure | Size {
  try {
    const { width, height } = imageSize(b);
    return { width, height };
  } catch (err) {
    return fail('CORRUPT_IMAGE', `${NAME[format]} header cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** JPEG frame header (SOF0–SOF15 but C4, C8, CC), found by walking the marker segments. */
function jpegFrame(b: Uint8Array): Failure | Size {
  for (let i = 2; ;) {
    // libjpeg skips stray bytes between segments (with a warning), then any fill bytes.
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length)
      return fail('CORRUPT_IMAGE', `JPEG file is truncated: it ends after ${b.length} bytes, before its frame header (SOF marker)`);
    const marker = b[i++]!;
    // A stuffed 0xFF00, SOI, TEM and RSTn have no length.
    if (marker === 0x00 || marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) {
      const name = marker === 0xd9 ? 'end of image (EOI)' : 'scan data (SOS)';
      return fail('CORRUPT_IMAGE', `JPEG reaches its ${name} at byte ${i - 2} without a frame header (SOF marker)`);
    }
    if (i + 2 > b.length) return truncated('jpeg', b, i + 2, `segment at byte ${i - 2}`);
    const length = view(b).getUint16(i);
    if (length < 2) return fail('CORRUPT_IMAGE', `JPEG segment 0xFF${hex(marker)} at byte ${i - 2} has an impossible length ${length}`);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const sof = `frame header (SOF${marker - 0xc0})`;
      if (length < 8) return fail('CORRUPT_IMAGE', `JPEG ${sof} is ${length} bytes, but it needs at least 8`);
      if (i + 7 > b.length) return truncated('jpeg', b, i + 7, sof);
      return { width: view(b).getUint16(i + 5), height: view(b).getUint16(i + 3) };
    }
    i += length;
  }
}

/** Per format: refuse what image-size would misread, then read the size. */
const READERS: Readonly<Record<ImageFormat, (b: Uint8Array) => Failure | Size>> = {
  png(b) {
    if (b.length < 24) return truncated('png', b, 24, 'IHDR header');
    const chunk = ascii(b, 12, 4);
    // image-size reads past a CgBI chunk (Apple's PNG variant), which browsers cannot decode.
    return chunk === 'IHDR' ? measure('png', b) : fail('CORRUPT_IMAGE', `PNG's first chunk is "${chunk}", but it must be IHDR`);
  },
  jpeg: jpegFrame,
  gif(b) {
    const version = ascii(b, 0, 6);
    if (b.length >= 6 && version !== 'GIF87a' && version !== 'GIF89a') {
      return fail('NOT_AN_IMAGE', `file starts with "${version}", which is neither GIF87a nor GIF89a`);
    }
    return b.length < 10 ? truncated('gif', b, 10, 'logical screen descriptor') : measure('gif', b);
  },
  webp(b) {
    if (b.length < 20) return truncated('webp', b, 20, 'first chunk header');
    const chunk = ascii(b, 12, 4);
    const needed = WEBP_HEADER_BYTES[chunk];
    if (needed === undefined) return fail('CORRUPT_IMAGE', `WebP's first chunk is "${chunk.trimEnd()}", expected VP8, VP8L or VP8X`);
    if (b.length < needed) return truncated('webp', b, needed, `${chunk.trimEnd()} header`);
    if (chunk === 'VP8 ' && (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a)) {
      return fail('CORRUPT_IMAGE', 'WebP VP8 chunk lacks the key frame start code 9D 01 2A');
    }
    if (chunk === 'VP8L' && b[20] !== 0x2f) return fail('CORRUPT_IMAGE', `WebP VP8L chunk has signature 0x${hex(b[20]!)}, expected 0x2F`);
    return measure('webp', b);
  },
  bmp(b) {
    if (b.length < 18) return truncated('bmp', b, 18, 'file header');
    const infoSize = view(b).getUint32(14, true);
    if (!BMP_INFO_SIZES.has(infoSize)) {
      // Two bytes "BM" is a weak signature (any text starting "BM"), so an unknown header is not a BMP.
      return fail('NOT_AN_IMAGE', `file starts with "BM" but has no BMP info header (header size ${infoSize} is not a BMP's)`);
    }
    if (infoSize === 12) {
      if (b.length < 22) return truncated('bmp', b, 22, 'core header');
      return { width: view(b).getUint16(18, true), height: view(b).getUint16(20, true) };
    }
    if (b.length < 26) return truncated('bmp', b, 26, 'info header');
    const width = view(b).getInt32(18, true);
    return width < 0 ? fail('CORRUPT_IMAGE', `BMP header claims a negative width (${width})`) : measure('bmp', b);
  },
};

function notAnImage(b: Uint8Array): Failure {
  const head = Array.from(b.subarray(0, 8), hex).join(' ');
  const known = NON_IMAGES.find(([, magic]) => ascii(b, 0, magic.length) === magic);
  if (known) return fail('NOT_AN_IMAGE', `file is ${known[0]} (first bytes ${head}), not a ${ACCEPTED} image`);
  for (const [type, handler] of typeHandlers) {
    let matched = false;
    try {
      matched = !OURS.has(type) && handler.validate(b);
    } catch {
      // Too short for this format's check.
    }
    if (matched)
      return fail(
        'NOT_AN_IMAGE',
        `file looks like ${TYPE_NAMES[type] ?? type.toUpperCase()} (first bytes ${head}), not a ${ACCEPTED} image`,
      );
  }
  return fail('NOT_AN_IMAGE', `file starts with bytes ${head}, which match no ${ACCEPTED} signature`);
}

/**
 * Reads the format and pixel size from an image's header. Never throws; failures come back as
 * `{ok: false}` with EMPTY_FILE, NOT_AN_IMAGE, CORRUPT_IMAGE (truncated header, zero side) or
 * IMAGE_TOO_LARGE (over `MAX_IMAGE_PIXELS`).
 */
export function sniffImage(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) return fail('EMPTY_FILE', 'file is empty (0 bytes)');
  // A file shorter than a signature but matching its start is a truncated image, not a non-image.
  const match = SIGNATURES.find(
    ([, magic]) => bytes.length >= Math.min(2, magic.length) && magic.every((m, i) => i >= bytes.length || m === null || m === bytes[i]),
  );
  if (!match) return notAnImage(bytes);
  const [format, magic] = match;
  if (bytes.length < magic.length) return truncated(format, bytes, magic.length, 'signature');
  const size = READERS[format](bytes);
  if ('ok' in size) return size;
  const { width, height } = size;
  if (width === 0 || height === 0) {
    return fail(
      'CORRUPT_IMAGE',
      `${NAME[format]} header claims ${width}×${height} pixels; an image needs a width and height of at least 1`,
    );
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    return fail(
      'IMAGE_TOO_LARGE',
      `${NAME[format]} header claims ${width}×${height} pixels (${megapixels(width * height)} MP), over the ` +
        `${megapixels(MAX_IMAGE_PIXELS)} MP limit`,
    );
  }
  return { ok: true, format, width, height, mime: `image/${format}` };
}
