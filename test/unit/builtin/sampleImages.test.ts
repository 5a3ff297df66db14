import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { encodeJpeg, encodePng, type PngLayout } from '../../../coordinator/builtin/encodeImage.ts';
import {
  ensureSampleDataset,
  SAMPLE_COUNT,
  SAMPLE_SUBFOLDER,
  sampleImage,
  sampleNames,
  samplePixels,
  sampleSpec,
} from '../../../coordinator/builtin/sampleImages.ts';
import { decodeImage, imageFormat } from '../../support/nodeDecode.ts';

/**
 * SHA-256 over every sample's name and SHA-256, in index order. The files must be the same bytes
 * on every machine; update this only when the generator changes on purpose (the built-in model's
 * pinned hash changes with it if the pixels change, as it is calibrated on these pictures). The
 * PNG bytes come from fflate at the exact version package.json pins: bumping fflate may change
 * them (not the pixels) and must update this hash.
 */
const EXPECTED_DATASET_SHA256 = '6cd9e6e7d5f054ef2c5b24a85ad3070e6fef88b8aa2b02f0dec0410350c5b01d';

const scratch = await mkdtemp(join(tmpdir(), 'tabpool-sample-'));
after(() => rm(scratch, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(dir.length + 1)
        .split('\\')
        .join('/'),
    )
    .sort();
}

/** Mean absolute difference over RGB between decoded RGBA and source RGB. */
function meanAbsDiff(rgba: Uint8Array | Uint8ClampedArray, rgb: Uint8Array): number {
  let sum = 0;
  for (let p = 0; p < rgb.length / 3; p++) for (let k = 0; k < 3; k++) sum += Math.abs(rgba[p * 4 + k]! - rgb[p * 3 + k]!);
  return sum / rgb.length;
}

test('writes 256 images to <cacheDir>/sample, half PNG and half JPEG, some in a subfolder', async () => {
  const dir = await ensureSampleDataset(scratch);
  assert.equal(dir, join(scratch, 'sample'));
  const files = await listFiles(dir);
  assert.equal(files.length, SAMPLE_COUNT);
  assert.deepEqual(files, [...sampleNames()].sort());
  const formats = { png: 0, jpeg: 0 };
  let bytes = 0;
  for (const name of files) {
    const data = await readFile(join(dir, name));
    bytes += data.length;
    const format = imageFormat(data);
    assert.ok(format, `${name} is a PNG or JPEG`);
    assert.equal(name.endsWith('.png') ? 'png' : 'jpeg', format, `${name} has the extension of its format`);
    formats[format]++;
  }
  assert.deepEqual(formats, { png: 128, jpeg: 128 });
  assert.ok(files.some((f) => f.startsWith(`${SAMPLE_SUBFOLDER}/`)));
  assert.ok(bytes < 15 * 1024 * 1024, `dataset is ${bytes} bytes`);
});

test('is the same bytes on every build (pinned SHA-256 over all files)', async () => {
  const dir = await ensureSampleDataset(scratch);
  const digest = createHash('sha256');
  for (const name of sampleNames()) digest.update(`${name}\n${sha256(await readFile(join(dir, name)))}\n`);
  assert.equal(digest.digest('hex'), EXPECTED_DATASET_SHA256);
  for (const i of [0, 1, 17, 255]) {
    const again = await sampleImage(i);
    assert.equal(sha256(again.bytes), sha256(await readFile(join(dir, again.name))));
  }
});

test('reuses an existing dataset without rewriting it or leaving temporary folders', async () => {
  const dir = await ensureSampleDataset(scratch);
  const before = (await stat(join(dir, sampleNames()[0]!))).mtimeMs;
  assert.equal(await ensureSampleDataset(scratch), dir);
  assert.equal((await stat(join(dir, sampleNames()[0]!))).mtimeMs, before);
  assert.deepEqual(
    (await readdir(scratch)).filter((n) => n.includes('sample')),
    ['sample'],
  );
});

test('varies sizes and aspect ratios: portrait, landscape and square, 96..640 px, some exactly 256 short', () => {
  const specs = Array.from({ length: SAMPLE_COUNT }, (_, i) => sampleSpec(i));
  assert.ok(specs.every((s) => Math.min(s.width, s.height) >= 96 && Math.max(s.width, s.height) <= 640));
  assert.ok(specs.filter((s) => s.width > s.height).length >= 50, 'landscape');
  assert.ok(specs.filter((s) => s.width < s.height).length >= 50, 'portrait');
  assert.ok(specs.filter((s) => s.width === s.height).length >= 10, 'square');
  assert.ok(specs.filter((s) => Math.min(s.width, s.height) === 256).length >= 32, 'shorter side 256');
  assert.ok(new Set(specs.map((s) => `${s.width}x${s.height}`)).size >= 100, 'many distinct sizes');
  assert.equal(new Set(specs.map((s) => s.background)).size, 12, 'every kind of background');
  assert.deepEqual(
    new Set(specs.map((s) => s.pngLayout).filter((l) => l !== null)),
    new Set(['rgb8', 'rgba8', 'grey8', 'rgb16', 'grey16']),
  );
});

test('decodeImage decodes every PNG layout of the dataset to exactly the painted pixels', async () => {
  const dir = await ensureSampleDataset(scratch);
  for (let i = 0; i < SAMPLE_COUNT; i += 2) {
    const spec = sampleSpec(i);
    const px = decodeImage(await readFile(join(dir, spec.name)));
    const painted = samplePixels(i);
    assert.deepEqual([px.width, px.height, px.channels], [spec.width, spec.height, 4], spec.name);
    assert.equal(meanAbsDiff(px.data, painted.data), 0, `${spec.name} (${spec.pngLayout})`);
  }
});

test('16-bit PNGs hold real 16-bit data whose high byte is the painted pixel too', async () => {
  const dir = await ensureSampleDataset(scratch);
  const wide = Array.from({ length: SAMPLE_COUNT }, (_, i) => sampleSpec(i)).filter(
    (s) => s.pngLayout === 'rgb16' || s.pngLayout === 'grey16',
  );
  assert.ok(wide.length >= 20);
  for (const spec of wide) {
    const png = PNG.sync.read(await readFile(join(dir, spec.name)), { skipRescale: true });
    const samples = png.data as unknown as Uint16Array;
    const painted = samplePixels(spec.index).data;
    const lowBytes = new Set<number>();
    let mismatches = 0;
    for (let p = 0; p < spec.width * spec.height; p++) {
      for (let k = 0; k < 3; k++) {
        // A decoder that truncates to 8 bits (libpng's strip_16) sees the same pixels as one that rounds.
        if (samples[p * 4 + k]! >> 8 !== painted[p * 3 + k]) mismatches++;
        lowBytes.add(samples[p * 4 + k]! & 0xff);
      }
    }
    assert.equal(mismatches, 0, spec.name);
    assert.ok(lowBytes.size > 64, `${spec.name} uses the low byte`);
  }
});

test('decodeImage decodes the JPEGs close to the painted pixels', async () => {
  const dir = await ensureSampleDataset(scratch);
  for (let i = 1; i < SAMPLE_COUNT; i += 8) {
    const spec = sampleSpec(i);
    const px = decodeImage(await readFile(join(dir, spec.name)));
    assert.deepEqual([px.width, px.height, px.channels], [spec.width, spec.height, 4], spec.name);
    const diff = meanAbsDiff(px.data, samplePixels(i).data);
    assert.ok(diff < 16, `${spec.name}: mean |error| ${diff.toFixed(2)} at quality ${spec.jpegQuality}`);
  }
});

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

test('decodeImage decodes palette PNGs (with tRNS) and grey+alpha PNGs', () => {
  // A 3x2 palette image, 8-bit indices, filter 0 on each row; entry 2 is half transparent.
  const ihdr = Buffer.from([0, 0, 0, 3, 0, 0, 0, 2, 8, 3, 0, 0, 0]);
  const plte = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255]);
  const trns = Buffer.from([255, 255, 128]);
  const rows = Buffer.from([0, 0, 1, 2, 0, 2, 1, 0]);
  const file = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('PLTE', plte),
    pngChunk('tRNS', trns),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
  const px = decodeImage(file);
  assert.deepEqual([px.width, px.height, px.channels], [3, 2, 4]);
  assert.deepEqual([...px.data], [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 128, 0, 0, 255, 128, 0, 255, 0, 255, 255, 0, 0, 255]);

  const greyAlpha = new PNG({ width: 2, height: 1, colorType: 4, inputColorType: 4, bitDepth: 8 });
  greyAlpha.data = Buffer.from([10, 255, 200, 7]);
  const decoded = decodeImage(PNG.sync.write(greyAlpha, { colorType: 4, inputColorType: 4 }));
  assert.deepEqual([...decoded.data], [10, 10, 10, 255, 200, 200, 200, 7]);
});

test('decodeImage decodes a JPEG of flat colour and refuses what is not PNG or JPEG', () => {
  const rgb = new Uint8Array(16 * 16 * 3);
  for (let p = 0; p < 256; p++) rgb.set([200, 60, 30], p * 3);
  const px = decodeImage(encodeJpeg(rgb, 16, 16, 95));
  assert.deepEqual([px.width, px.height, px.channels], [16, 16, 4]);
  assert.ok(meanAbsDiff(px.data, rgb) < 3);
  assert.throws(() => decodeImage(new TextEncoder().encode('GIF89a, not supported here')), TypeError);
  assert.throws(() => decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])));
});

const LAYOUTS: readonly PngLayout[] = ['rgb8', 'rgba8', 'grey8', 'rgb16', 'grey16'];

test('encodePng round-trips arbitrary pixels in every layout, the same bytes each time', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 24 }),
      fc.integer({ min: 1, max: 24 }),
      fc.constantFrom(...LAYOUTS),
      fc.integer({ min: 0, max: 0xffffffff }),
      async (width, height, layout, seed) => {
        const rgb = new Uint8Array(width * height * 3);
        // Mostly a 16-value alphabet, some arbitrary bytes: deflate finds both matches and literals.
        for (let i = 0, x = seed; i < rgb.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          rgb[i] = x >>> 24 < 96 ? x >>> 16 : (x >>> 28) * 16;
        }
        const png = await encodePng(rgb, width, height, layout);
        assert.deepEqual(await encodePng(rgb, width, height, layout), png);
        const px = decodeImage(png);
        const grey = layout === 'grey8' || layout === 'grey16';
        const expected = new Uint8Array(width * height * 4).fill(255);
        for (let p = 0; p < width * height; p++) {
          for (let k = 0; k < 3; k++) expected[p * 4 + k] = rgb[p * 3 + (grey ? 0 : k)]!;
        }
        assert.deepEqual([px.width, px.height], [width, height]);
        assert.deepEqual(new Uint8Array(px.data), expected);
      },
    ),
    { numRuns: 200 },
  );
});

test('encodePng compresses: a flat picture is far smaller than its scanlines', async () => {
  const rgb = new Uint8Array(256 * 256 * 3).fill(77);
  const png = await encodePng(rgb, 256, 256, 'rgb8');
  assert.ok(png.length < 2000, `${png.length} bytes for ${rgb.length + 256} bytes of scanlines`);
});
