/**
 * tabpool's decoding and preprocessing against Pillow itself: every case of
 * test/support/pillowParityImages.ts is written as a PNG, run through test/support/pillowPreprocess.py
 * (Image.open → convert('RGB') → torchvision's Resize + CenterCrop on PIL, or Ray's plain resize →
 * ToTensor + Normalize in float32), and compared with our code element for element, exact equality:
 *
 * 1. from Pillow's own decoded pixels: the 8-bit image after the resize, then the tensor;
 * 2. the decode a tab and the reference share (shared/decode/pngPixels.ts) against Pillow's
 *    convert('RGB'), for every layout: 1/2/4/8/16-bit grey (16-bit clipped to 255, as Pillow does),
 *    grey + alpha, RGB and RGBA (alpha dropped, not premultiplied), palette with and without tRNS,
 *    16-bit samples (the high byte), and tRNS colour keys (the colour kept);
 * 3. end to end from our decode: the same tensor as Pillow's.
 *
 * Needs Debian's python3-pil for /usr/bin/python3 (or TABPOOL_PILLOW_PYTHON naming another
 * interpreter with PIL); without it every test here fails, saying so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodePngRgb } from '../../../shared/decode/pngPixels.ts';
import { preprocess, resizeAndCrop, type Pixels } from '../../../shared/preprocess.ts';
import { parityCases } from '../../support/pillowParityImages.ts';
import { encodePng } from '../../support/pngEncode.ts';

const PYTHON = process.env.TABPOOL_PILLOW_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../support/pillowPreprocess.py', import.meta.url));
const run = promisify(execFile);

const cases = parityCases();
const dir = await mkdtemp(join(tmpdir(), 'tabpool-pillow-'));
after(() => rm(dir, { recursive: true, force: true }));

interface PillowResult {
  mode: string;
  size: [number, number];
  resized: [number, number];
}

/** Writes the PNGs and runs Pillow over all of them once; every test awaits this. */
const pillow: Promise<{ version: string; results: PillowResult[] }> = (async () => {
  let version: string;
  try {
    version = (await run(PYTHON, ['-c', 'import PIL; print(PIL.__version__)'])).stdout.trim();
  } catch (err) {
    throw new Error(
      `this test compares against Pillow: install python3-pil (apt-get install -y python3-pil) so that ${PYTHON} can import PIL ` +
        `(or set TABPOOL_PILLOW_PYTHON to a Python that has it). ${(err as Error).message}`,
    );
  }
  const manifest = cases.map((c, i) => {
    const base = join(dir, String(i).padStart(2, '0'));
    const { height, width, resizeShorter: resize, crop, mean, std } = c.spec;
    return { png: `${base}.png`, out: base, height, width, resize, crop, mean, std };
  });
  await Promise.all(cases.map((c, i) => writeFile(manifest[i]!.png, encodePng(c.png))));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  const { stdout } = await run(PYTHON, [SCRIPT, join(dir, 'manifest.json')], { maxBuffer: 1 << 24, timeout: 300_000 });
  const results = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as PillowResult);
  assert.equal(results.length, cases.length);
  return { version, results };
})();
// Each test awaits it; this only keeps a failure from also being reported as unhandled.
pillow.catch(() => undefined);

/** Undefined when equal; else how many elements differ, the first, and the largest difference. */
function mismatch(got: ArrayLike<number>, want: ArrayLike<number>): string | undefined {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  let count = 0;
  let first = -1;
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    if (got[i] === want[i]) continue;
    if (first < 0) first = i;
    count++;
    max = Math.max(max, Math.abs(got[i]! - want[i]!));
  }
  return count === 0 ? undefined : `${count} of ${got.length} differ (first at ${first}: ${got[first]} vs ${want[first]}; max |Δ| ${max})`;
}

for (const [i, c] of cases.entries()) {
  const recipe = c.spec.crop ? 'resize, crop' : 'resize';
  test(`${c.name} → ${c.spec.height}×${c.spec.width}: the decode, the ${recipe} and the tensor equal Pillow's`, async (t) => {
    const { version, results } = await pillow;
    const r = results[i]!;
    const base = join(dir, String(i).padStart(2, '0'));
    const [pillowRgb, cropBytes, tensorBytes] = await Promise.all(['rgb', 'crop', 'f32'].map((ext) => readFile(`${base}.${ext}`)));
    const want = new Float32Array(tensorBytes!.buffer, tensorBytes!.byteOffset, tensorBytes!.byteLength / 4);
    t.diagnostic(`Pillow ${version} opened it as '${r.mode}' ${r.size.join('×')}, resized to ${r.resized.join('×')}`);
    assert.deepEqual(r.size, [c.png.width, c.png.height]);

    // 1. From Pillow's pixels: the resized (and cropped) bytes, then the tensor.
    const fromPillow: Pixels = { width: c.png.width, height: c.png.height, channels: 3, data: pillowRgb! };
    const crop = resizeAndCrop(fromPillow, c.spec);
    assert.equal(mismatch(crop.data, cropBytes!), undefined, `the 8-bit image after the ${recipe}`);
    assert.equal(mismatch(preprocess(fromPillow, c.spec), want), undefined, 'the float32 tensor');

    // 2. Our decode against Pillow's convert('RGB').
    const rgb = decodePngRgb(await readFile(`${base}.png`));
    assert.deepEqual([rgb.width, rgb.height], [c.png.width, c.png.height]);
    assert.equal(mismatch(rgb.data, pillowRgb!), undefined, 'our RGB against Pillow convert("RGB")');

    // 3. End to end from our pixels.
    const decoded: Pixels = { width: rgb.width, height: rgb.height, channels: 3, data: rgb.data };
    assert.equal(mismatch(preprocess(decoded, c.spec), want), undefined, 'the tensor from our decode');
  });
}
