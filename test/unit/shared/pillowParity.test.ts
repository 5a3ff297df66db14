/**
 * shared/preprocess.ts against Pillow itself: every case of test/support/pillowParityImages.ts is
 * written as a PNG, run through test/support/pillowPreprocess.py (Image.open → convert('RGB') →
 * torchvision's Resize + CenterCrop on PIL → ToTensor + Normalize in float32), and compared with
 * our code element for element, exact equality:
 *
 * 1. from Pillow's own decoded pixels: the 8-bit image after resize + crop, then the tensor;
 * 2. Pillow's decode against pngjs's (coordinator/io/decodeImage.ts), by the law each layout
 *    is expected to follow (see DecodeLaw);
 * 3. end to end from pngjs's pixels, where the decodes agree (elsewhere the difference is reported).
 *
 * The decodes agree for 1/2/4/8-bit grey, 8-bit grey + alpha, RGB and RGBA (alpha is dropped by
 * both, not premultiplied), palette with and without tRNS alpha, and 16-bit samples that are
 * multiples of 257. They differ for 16-bit grey (Pillow clamps to 255), other 16-bit samples
 * (Pillow truncates to the high byte, pngjs rounds) and grey/RGB tRNS colour keys (pngjs blacks the
 * keyed pixels out). Preprocessing itself is exact for all of them, given Pillow's pixels.
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
import { decodeImage } from '../../../coordinator/io/decodeImage.ts';
import { preprocess, resizeAndCrop, type Pixels } from '../../../shared/preprocess.ts';
import { parityCases, type DecodeLaw, type ParityCase } from '../../support/pillowParityImages.ts';
import { encodePng, pngChannels } from '../../support/pngEncode.ts';

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
    const { height, width, resizeShorter: resize, mean, std } = c.spec;
    return { png: `${base}.png`, out: base, height, width, resize, mean, std };
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

function rgbOf(px: Pixels): Uint8Array {
  const out = new Uint8Array(px.width * px.height * 3);
  for (let i = 0, p = 0; i < out.length; i += 3, p += px.channels) out.set(px.data.subarray(p, p + 3), i);
  return out;
}

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

/** What each decoder makes of the stored samples, per the layout's law: [Pillow RGB, pngjs RGB]. */
function expectedDecodes(c: ParityCase): [Uint8Array, Uint8Array] {
  const { width, height, colorType, samples, transparency } = c.png;
  const n = width * height;
  const channels = pngChannels(colorType);
  const pillowRgb = new Uint8Array(n * 3);
  const pngjsRgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = samples[i * channels + (channels >= 3 ? k : 0)]!;
      if (c.decode === 'clamp16' || c.decode === 'highByte16') {
        pillowRgb[i * 3 + k] = c.decode === 'clamp16' ? Math.min(v, 255) : v >> 8;
        pngjsRgb[i * 3 + k] = Math.floor((v * 255) / 65535 + 0.5);
      } else {
        const keyed = transparency!.every((t, j) => samples[i * channels + j] === t);
        pillowRgb[i * 3 + k] = v;
        pngjsRgb[i * 3 + k] = keyed ? 0 : v;
      }
    }
  }
  return [pillowRgb, pngjsRgb];
}

const LAW: Record<DecodeLaw, string> = {
  agree: 'decodes agree',
  clamp16: "decodes differ: Pillow's convert('RGB') clamps 16-bit grey to 255, pngjs scales it",
  highByte16: 'decodes differ by up to 1: Pillow keeps the high byte of 16-bit samples, pngjs rounds',
  colourKey: "decodes differ: pngjs blacks out tRNS-keyed pixels, Pillow's convert('RGB') keeps their colour",
};

for (const [i, c] of cases.entries()) {
  test(`${c.name} → ${c.spec.height}×${c.spec.width}: resize, crop and tensor equal Pillow's; ${LAW[c.decode]}`, async (t) => {
    const { version, results } = await pillow;
    const r = results[i]!;
    const base = join(dir, String(i).padStart(2, '0'));
    const [pillowRgb, cropBytes, tensorBytes] = await Promise.all(['rgb', 'crop', 'f32'].map((ext) => readFile(`${base}.${ext}`)));
    const want = new Float32Array(tensorBytes!.buffer, tensorBytes!.byteOffset, tensorBytes!.byteLength / 4);
    t.diagnostic(`Pillow ${version} opened it as '${r.mode}' ${r.size.join('×')}, resized to ${r.resized.join('×')}`);
    assert.deepEqual(r.size, [c.png.width, c.png.height]);

    // 1. From Pillow's pixels: the resized, cropped bytes, then the tensor.
    const fromPillow: Pixels = { width: c.png.width, height: c.png.height, channels: 3, data: pillowRgb! };
    const crop = resizeAndCrop(fromPillow, c.spec);
    assert.equal(mismatch(crop.data, cropBytes!), undefined, 'the 8-bit image after resize + crop');
    assert.equal(mismatch(preprocess(fromPillow, c.spec), want), undefined, 'the float32 tensor');

    // 2. pngjs's decode against Pillow's.
    const decoded = decodeImage(await readFile(`${base}.png`));
    assert.equal(decoded.width, c.png.width);
    assert.equal(decoded.height, c.png.height);
    const pngjsRgb = rgbOf(decoded);
    if (c.decode === 'agree') {
      assert.equal(mismatch(pngjsRgb, pillowRgb!), undefined, 'pngjs RGB against Pillow convert("RGB")');
    } else {
      const [wantPillow, wantPngjs] = expectedDecodes(c);
      assert.equal(mismatch(pillowRgb!, wantPillow), undefined, `Pillow's decode follows the ${c.decode} law`);
      assert.equal(mismatch(pngjsRgb, wantPngjs), undefined, `pngjs's decode follows the ${c.decode} law`);
      t.diagnostic(`decode: ${mismatch(pngjsRgb, pillowRgb!) ?? 'identical on these samples'}`);
    }

    // 3. End to end from pngjs's pixels.
    const endToEnd = mismatch(preprocess(decoded, c.spec), want);
    if (c.decode === 'agree') assert.equal(endToEnd, undefined, 'the tensor from pngjs pixels');
    else t.diagnostic(`tensor from pngjs pixels: ${endToEnd ?? 'identical'}`);
  });
}
