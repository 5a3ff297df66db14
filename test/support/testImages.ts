/** Seeded test images written as PNG (exact to decode in Node and in the browser alike). */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as bmp from 'bmp-ts';
import { PNG } from 'pngjs';
import sharp from 'sharp';

/** A small seeded PRNG (uniform in [0, 1)), for reproducible test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `count` PNGs of `width`×`height`: blobs, stripes and gradients in seeded colours. */
export async function writeTestPngs(
  dir: string,
  count: number,
  width = 224,
  height = 224,
  seed = 7,
): Promise<{ id: string; path: string }[]> {
  return writeTestImages(dir, count, width, height, seed, async (png) => ({ ext: 'png', bytes: PNG.sync.write(png) }));
}

/**
 * Writes `count` images the coordinator's reference once could not decode: CMYK JPEGs (sharp writes
 * Adobe's inverted CMYK, as Photoshop does) and 24-bit BMPs, alternating.
 */
export async function writeCmykJpegsAndBmps(
  dir: string,
  count: number,
  width = 96,
  height = 80,
  seed = 13,
): Promise<{ id: string; path: string }[]> {
  let n = 0;
  return writeTestImages(dir, count, width, height, seed, async (png) => {
    const rgb = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * 4 + c]!;
    if (n++ % 2 === 0)
      return {
        ext: 'jpg',
        bytes: await sharp(rgb, { raw: { width, height, channels: 3 } })
          .toColourspace('cmyk')
          .jpeg({ quality: 90 })
          .toBuffer(),
      };
    const abgr = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++)
      [abgr[i * 4], abgr[i * 4 + 1], abgr[i * 4 + 2], abgr[i * 4 + 3]] = [255, rgb[i * 3 + 2]!, rgb[i * 3 + 1]!, rgb[i * 3]!];
    return { ext: 'bmp', bytes: bmp.encode({ width, height, data: abgr, bitPP: 24 }).data };
  });
}

async function writeTestImages(
  dir: string,
  count: number,
  width: number,
  height: number,
  seed: number,
  encode: (png: PNG) => Promise<{ ext: string; bytes: Uint8Array }>,
): Promise<{ id: string; path: string }[]> {
  await fs.mkdir(dir, { recursive: true });
  const rand = mulberry32(seed);
  const files: { id: string; path: string }[] = [];
  for (let n = 0; n < count; n++) {
    const png = new PNG({ width, height });
    const c1 = [rand() * 255, rand() * 255, rand() * 255];
    const c2 = [rand() * 255, rand() * 255, rand() * 255];
    const freq = 1 + Math.floor(rand() * 12);
    const angle = rand() * Math.PI;
    const cx = rand() * width;
    const cy = rand() * height;
    const r = (0.1 + rand() * 0.4) * width;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = 0.5 + 0.5 * Math.sin(((x * Math.cos(angle) + y * Math.sin(angle)) / width) * freq * Math.PI * 2);
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        const i = (y * width + x) * 4;
        for (let c = 0; c < 3; c++) png.data[i + c] = Math.round(inside ? 255 - c1[c]! : c1[c]! * t + c2[c]! * (1 - t));
        png.data[i + 3] = 255;
      }
    }
    const { ext, bytes } = await encode(png);
    const name = `t${String(n).padStart(3, '0')}.${ext}`;
    const file = path.join(dir, name);
    await fs.writeFile(file, bytes);
    files.push({ id: name, path: file });
  }
  return files;
}
