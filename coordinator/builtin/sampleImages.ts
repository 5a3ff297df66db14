/**
 * The built-in sample dataset: 256 procedurally drawn pictures, half PNG and half JPEG, in
 * assorted sizes and aspect ratios, written once to `<cacheDir>/sample/`. Every file is the same
 * bytes on every machine (seeded PRNG, exact arithmetic, fflate's deflate at a pinned version), so
 * runs over it can be compared across machines.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Pixels } from '../../shared/preprocess.ts';
import { Prng } from './prng.ts';
import { encodeJpeg, encodePng, type PngLayout } from './encodeImage.ts';
import { BACKGROUNDS, paint, type Background } from './painters.ts';

export const SAMPLE_COUNT = 256;

/** Seed of the whole dataset; changing it changes every image (and the built-in model). */
const SEED = 0x7ab9001;

/** Relative path of the nested folder that some samples live in, to exercise directory walking. */
export const SAMPLE_SUBFOLDER = 'nested';

const ASPECTS: ReadonlyArray<readonly [number, number]> = [
  [1, 1],
  [4, 3],
  [3, 4],
  [3, 2],
  [2, 3],
  [16, 9],
  [9, 16],
  [2, 1],
  [1, 2],
  [5, 4],
  [4, 5],
];

const PNG_LAYOUTS: readonly PngLayout[] = ['rgb8', 'rgb8', 'rgb8', 'rgb8', 'rgb8', 'rgb8', 'rgba8', 'grey8', 'rgb16', 'grey16'];

/** Everything that determines one sample image. */
export interface SampleSpec {
  index: number;
  /** Path relative to the dataset folder, with `/` separators, e.g. `img-007.jpg` or `nested/img-031.jpg`. */
  name: string;
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  background: Background;
  shapes: number;
  noise: number;
  /** PNG only: how the pixels are stored. */
  pngLayout: PngLayout | null;
  /** JPEG only: quality 1..100. */
  jpegQuality: number | null;
}

export interface SampleImage {
  name: string;
  bytes: Uint8Array;
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= SAMPLE_COUNT) {
    throw new RangeError(`sample index must be an integer in [0, ${SAMPLE_COUNT}), got ${index}`);
  }
}

export function sampleSpec(index: number): SampleSpec {
  checkIndex(index);
  const r = new Prng(SEED, index);
  const format = index % 2 === 0 ? 'png' : 'jpeg';
  const [a, b] = r.pick(ASPECTS);
  // Every eighth image has exactly 256 on its shorter side: the size the preprocessing resizes to.
  let shorter = index % 8 === 3 || index % 8 === 4 ? 256 : r.intBetween(96, 360);
  let longer = Math.round((shorter * Math.max(a, b)) / Math.min(a, b));
  if (longer > 640) {
    longer = 640;
    if (shorter !== 256) shorter = Math.max(96, Math.round((longer * Math.min(a, b)) / Math.max(a, b)));
  }
  const [width, height] = a >= b ? [longer, shorter] : [shorter, longer];
  const background = BACKGROUNDS[index % BACKGROUNDS.length]!;
  const shapes = r.chance(0.6) ? r.intBetween(1, 8) : 0;
  // Grain costs PNG a lot of bytes; JPEG gets it more often and stronger.
  const noise = format === 'jpeg' ? (r.chance(0.5) ? r.range(4, 40) : 0) : r.chance(0.15) ? r.range(2, 10) : 0;
  const ext = format === 'png' ? 'png' : 'jpg';
  const file = `img-${String(index).padStart(3, '0')}.${ext}`;
  return {
    index,
    name: index % 32 === 31 ? `${SAMPLE_SUBFOLDER}/${file}` : file,
    format,
    width,
    height,
    background,
    shapes,
    noise,
    pngLayout: format === 'png' ? PNG_LAYOUTS[(index >> 1) % PNG_LAYOUTS.length]! : null,
    jpegQuality: format === 'jpeg' ? r.intBetween(60, 95) : null,
  };
}

function toGrey(rgb: Uint8Array): void {
  for (let o = 0; o < rgb.length; o += 3) {
    const y = Math.round((rgb[o]! * 299 + rgb[o + 1]! * 587 + rgb[o + 2]! * 114) / 1000);
    rgb[o] = y;
    rgb[o + 1] = y;
    rgb[o + 2] = y;
  }
}

/**
 * The picture of sample `index` as 8-bit RGB. For a PNG these are exactly the pixels its file
 * decodes to; for a JPEG, the pixels before lossy compression.
 */
export function samplePixels(index: number): Pixels & { channels: 3; data: Uint8Array } {
  const spec = sampleSpec(index);
  const r = new Prng(SEED ^ 0x5a5a5a5a, index);
  const data = paint(spec, r);
  if (spec.pngLayout === 'grey8' || spec.pngLayout === 'grey16') toGrey(data);
  return { width: spec.width, height: spec.height, channels: 3, data };
}

/** The file of sample `index`: its relative name and encoded bytes. */
export async function sampleImage(index: number): Promise<SampleImage> {
  const spec = sampleSpec(index);
  const { width, height, data } = samplePixels(index);
  const bytes =
    spec.format === 'png'
      ? await encodePng(data, width, height, spec.pngLayout ?? 'rgb8')
      : encodeJpeg(data, width, height, spec.jpegQuality ?? 85);
  return { name: spec.name, bytes };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the sample dataset to `<cacheDir>/sample/` unless it is there already, and returns that
 * folder. The images are written into a temporary folder that is renamed into place, so a
 * crashed or concurrent run never leaves a half-written dataset behind.
 */
export async function ensureSampleDataset(cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'sample');
  if (await exists(dir)) return dir;
  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.sample-${process.pid}-${Date.now().toString(36)}.tmp`);
  try {
    for (let i = 0; i < SAMPLE_COUNT; i++) {
      const { name, bytes } = await sampleImage(i);
      const path = join(tmp, ...name.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    }
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished first: its copy is identical, keep it.
      if (!(await exists(dir))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The relative names `ensureSampleDataset` writes, in index order. */
export function sampleNames(): string[] {
  return Array.from({ length: SAMPLE_COUNT }, (_, i) => sampleSpec(i).name);
}
