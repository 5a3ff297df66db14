/**
 * One decoding of an image input, for a tab and for the coordinator's reference alike: the header
 * checked (shared/imageHeader.ts), PNGs decoded here in JavaScript with Pillow's laws
 * (pngPixels.ts), every other format by the side's own decoder on the bytes with their EXIF
 * orientation made 1 (a browser's canvas in a tab, libvips in Node: the same libjpeg-turbo, and
 * the same pixels, measured), then turned upright by EXIF only when the job asks (--exif-transpose).
 * So both sides start from the pixels Pillow's `Image.open(f).convert('RGB')` gives.
 */
import { TabpoolError } from '../errors.ts';
import { sniffImage, type ImageHeader } from '../imageHeader.ts';
import type { Pixels } from '../pixels.ts';
import type { Rgb8 } from '../preprocess.ts';
import { exifOrientation, orient, withoutOrientation } from './exifOrientation.ts';
import { decodePngRgb } from './pngPixels.ts';

export type ImageFormatHeader = Extract<ImageHeader, { ok: true }>;

/** A side's decoder for the formats not decoded here (JPEG, GIF, WebP, BMP): RGB or RGBA, the orientation not applied. */
export type PlatformDecoder = (bytes: Uint8Array, header: ImageFormatHeader) => Promise<Pixels>;

/** How an image input is decoded: as stored (Pillow's default), or turned upright by its EXIF orientation. */
export interface DecodeOptions {
  exifTranspose: boolean;
}

/**
 * The input's pixels. Throws a TabpoolError naming what is wrong (EMPTY_FILE, NOT_AN_IMAGE,
 * CORRUPT_IMAGE, IMAGE_TOO_LARGE) for an input that cannot be decoded.
 */
export async function decodeImageInput(bytes: Uint8Array, o: DecodeOptions, platform: PlatformDecoder): Promise<Pixels> {
  const header = sniffImage(bytes);
  if (!header.ok) throw new TabpoolError(header.code, header.message);
  let pixels: Pixels;
  if (header.format === 'png') {
    let rgb: Rgb8;
    try {
      rgb = decodePngRgb(bytes);
    } catch (err) {
      throw new TabpoolError('CORRUPT_IMAGE', `the PNG data could not be decoded (${(err as Error).message || 'decoder error'})`);
    }
    pixels = { width: rgb.width, height: rgb.height, channels: 3, data: rgb.data };
  } else {
    pixels = await platform(withoutOrientation(bytes), header);
  }
  return o.exifTranspose ? orient(pixels, exifOrientation(bytes)) : pixels;
}

/** The pixels as 8-bit RGB, row-major, 3 bytes a pixel (alpha dropped, as Pillow's convert('RGB') drops it). */
export function toRgb(px: Pixels): Rgb8 {
  if (px.channels === 3 && px.data instanceof Uint8Array && px.data.length === px.width * px.height * 3)
    return { width: px.width, height: px.height, data: px.data };
  const n = px.width * px.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0, p = 0; i < n; i++, p += px.channels) {
    out[i * 3] = px.data[p]!;
    out[i * 3 + 1] = px.data[p + 1]!;
    out[i * 3 + 2] = px.data[p + 2]!;
  }
  return { width: px.width, height: px.height, data: out };
}
