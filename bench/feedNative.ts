/**
 * `node --import tsx bench/feedNative.ts <lanes> <passes> <file>…` (bench/feed.ts runs it in a child process, with
 * UV_THREADPOOL_SIZE = lanes): the tab's preparation done natively — sharp (libvips) decodes, resizes the shorter
 * side to 256 (bilinear) and crops the centre 224×224 as shared/preprocess.ts places it; ToTensor + Normalize into
 * a CHW float32 tensor in JS, as the tab does. `lanes` images at once (sharp.concurrency(1): one libvips thread an
 * image), so as many cores as the tab's prepare workers. One warm-up pass over the files, then `passes` passes, each
 * timed. Prints `{"images", "passMs", "lanes", "sharp", "vips"}` as JSON (images a pass, each pass's ms, the versions).
 */
import fs from 'node:fs/promises';
import sharp from 'sharp';
import { sniffImage } from '../shared/imageHeader.ts';
import { centerCropOrigin, IMAGENET_MEAN, IMAGENET_STD, preprocessSpecFor, resizedSize } from '../shared/preprocess.ts';

const [lanesArg, passesArg, ...files] = process.argv.slice(2);
const lanes = Number(lanesArg);
const passes = Number(passesArg);
if (!(lanes >= 1) || !(passes >= 1) || files.length === 0) throw new Error('usage: feedNative.ts <lanes> <passes> <file>…');

// No result cache: every pass decodes again. One libvips thread an image: `lanes` images at once use `lanes` cores.
sharp.cache(false);
sharp.concurrency(1);
const spec = preprocessSpecFor(224, 224);
const plane = spec.height * spec.width;
const table = new Float32Array(3 * 256);
for (let c = 0; c < 3; c++)
  for (let v = 0; v < 256; v++) {
    const mean = Math.fround(IMAGENET_MEAN[c]!);
    const std = Math.fround(IMAGENET_STD[c]!);
    table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  }

async function prepare(bytes: Uint8Array, out: Float32Array): Promise<void> {
  const header = sniffImage(bytes);
  if (!header.ok) throw new Error(header.message);
  const size = resizedSize(header.width, header.height, spec);
  // The shorter side is 256, so the 224 crop always lies inside the resized image.
  const left = centerCropOrigin(size.width, spec.width);
  const top = centerCropOrigin(size.height, spec.height);
  const rgb = await sharp(bytes, { failOn: 'error' })
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
    .extract({ left, top, width: spec.width, height: spec.height })
    .raw()
    .toBuffer();
  if (rgb.length !== plane * 3) throw new Error(`sharp gave ${rgb.length} bytes, not ${plane * 3}`);
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    out[i] = table[rgb[p]!]!;
    out[plane + i] = table[256 + rgb[p + 1]!]!;
    out[2 * plane + i] = table[512 + rgb[p + 2]!]!;
  }
}

const inputs = await Promise.all(files.map(async (f) => new Uint8Array(await fs.readFile(f))));
const outs = Array.from({ length: lanes }, () => new Float32Array(3 * plane));

/** One pass over every input, `lanes` at a time. */
async function pass(): Promise<void> {
  let next = 0;
  await Promise.all(
    outs.map(async (out) => {
      while (next < inputs.length) await prepare(inputs[next++]!, out);
    }),
  );
}

await pass();
const passMs: number[] = [];
for (let i = 0; i < passes; i++) {
  const start = performance.now();
  await pass();
  passMs.push(performance.now() - start);
}
const versions = { sharp: sharp.versions.sharp, vips: sharp.versions.vips };
process.stdout.write(`${JSON.stringify({ images: inputs.length, passMs, lanes, ...versions })}\n`);
