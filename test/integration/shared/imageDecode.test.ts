/**
 * shared/decode/: the one decoding a tab and the coordinator's reference share, against Pillow
 * itself. Photos carrying each EXIF orientation tag (1–8), as JPEG, PNG (eXIf) and WebP (EXIF):
 * by default the stored pixels, as `Image.open(f).convert('RGB')` gives them; with exifTranspose
 * what `ImageOps.exif_transpose` gives. The tag is found and made 1 in a copy of the bytes (what a
 * tab hands Chromium, which would otherwise turn JPEGs and PNGs itself), and an interlaced PNG
 * decodes as Pillow decodes it. The JPEG and WebP pixels come from the reference's decoder (libvips),
 * which matches Chromium's (e2e: test/e2e/anyModel.spec.ts).
 *
 * Needs Debian's python3-pil (or TABPOOL_PILLOW_PYTHON).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { decodeForReference } from '../../../coordinator/actor/nodeDecode.ts';
import { exifOrientation, orient, withoutOrientation } from '../../../shared/decode/exifOrientation.ts';
import { toRgb } from '../../../shared/decode/imageInput.ts';
import { mulberry32 } from '../../support/testImages.ts';

const PYTHON = process.env.TABPOOL_PILLOW_PYTHON ?? '/usr/bin/python3';
const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'tabpool-decode-'));
after(() => rm(dir, { recursive: true, force: true }));

const W = 37;
const H = 23;
const raw = Buffer.from(Uint8Array.from({ length: W * H * 3 }, mulberry32(7)).map((v) => Math.floor(v * 256)));
const base = (): Sharp => sharp(raw, { raw: { width: W, height: H, channels: 3 } });
const FORMATS = {
  jpeg: (o: number) => base().jpeg({ quality: 92 }).withMetadata({ orientation: o }).toBuffer(),
  png: (o: number) => base().png().withMetadata({ orientation: o }).toBuffer(),
  webp: (o: number) => base().webp({ lossless: true }).withMetadata({ orientation: o }).toBuffer(),
} as const;

/** Pillow's RGB bytes and size of each file, as stored and after exif_transpose. */
async function pillow(files: string[]): Promise<{ stored: Buffer; upright: Buffer; size: number[]; uprightSize: number[] }[]> {
  const script = `
import json, sys
from PIL import Image, ImageOps
for f in json.load(open(sys.argv[1])):
    im = Image.open(f)
    stored = im.convert('RGB')
    up = ImageOps.exif_transpose(Image.open(f)).convert('RGB')
    open(f + '.stored', 'wb').write(stored.tobytes())
    open(f + '.upright', 'wb').write(up.tobytes())
    print(json.dumps([list(stored.size), list(up.size)]))
`;
  await writeFile(join(dir, 'list.json'), JSON.stringify(files));
  const { stdout } = await run(PYTHON, ['-c', script, join(dir, 'list.json')]);
  const sizes = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as [number[], number[]]);
  return Promise.all(
    files.map(async (f, i) => ({
      stored: await readFile(`${f}.stored`),
      upright: await readFile(`${f}.upright`),
      size: sizes[i]![0]!,
      uprightSize: sizes[i]![1]!,
    })),
  );
}

const cases = (Object.keys(FORMATS) as (keyof typeof FORMATS)[]).flatMap((format) =>
  [1, 2, 3, 4, 5, 6, 7, 8].map((orientation) => ({ format, orientation, file: join(dir, `${format}-${orientation}.${format}`) })),
);
const made = (async () => {
  for (const c of cases) await writeFile(c.file, await FORMATS[c.format](c.orientation));
  return pillow(cases.map((c) => c.file));
})();
made.catch(() => undefined);

for (const [i, c] of cases.entries()) {
  test(`${c.format.toUpperCase()} tagged ${c.orientation}: the stored pixels by default, Pillow's exif_transpose when asked`, async () => {
    const want = (await made)[i]!;
    const bytes = new Uint8Array(await readFile(c.file));
    assert.equal(exifOrientation(bytes), c.orientation);
    const cleared = withoutOrientation(bytes);
    assert.equal(exifOrientation(cleared), 1, 'the copy a tab decodes says 1');
    assert.equal(exifOrientation(bytes), c.orientation, 'the input itself is left as it was');
    const stored = toRgb((await decodeForReference(bytes, { exifTranspose: false }))!);
    assert.deepEqual([stored.width, stored.height], want.size);
    assert.ok(Buffer.from(stored.data).equals(want.stored), 'as stored: Image.open(f).convert("RGB")');
    const upright = toRgb((await decodeForReference(bytes, { exifTranspose: true }))!);
    assert.deepEqual([upright.width, upright.height], want.uprightSize);
    assert.ok(Buffer.from(upright.data).equals(want.upright), 'ImageOps.exif_transpose(Image.open(f)).convert("RGB")');
  });
}

test('no EXIF, a truncated EXIF block and a value outside 1–8 all count as 1, and the bytes are left as they are', async () => {
  const plain = new Uint8Array(await base().jpeg().toBuffer());
  assert.equal(exifOrientation(plain), 1);
  assert.equal(withoutOrientation(plain), plain);
  const tagged = new Uint8Array(await FORMATS.jpeg(6));
  const cut = tagged.subarray(0, 26);
  assert.equal(exifOrientation(cut), 1);
  // The orientation entry (tag 0x0112, SHORT, count 1) in either byte order: its value made 9.
  const entry = (le: boolean): number[] => (le ? [0x12, 0x01, 3, 0, 1, 0, 0, 0] : [0x01, 0x12, 0, 3, 0, 0, 0, 1]);
  const find = (le: boolean): number => tagged.findIndex((_, j) => entry(le).every((v, k) => tagged[j + k] === v));
  const le = find(true) >= 0;
  const at = find(le);
  assert.ok(at > 0, 'the test JPEG carries an orientation entry');
  const nine = tagged.slice();
  new DataView(nine.buffer).setUint16(at + 8, 9, le);
  assert.equal(exifOrientation(nine), 1);
});

test('orient turns an RGBA image as well as an RGB one, without touching the input', () => {
  const px = { width: 2, height: 1, channels: 4 as const, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
  const turned = orient(px, 6);
  assert.deepEqual([turned.width, turned.height], [1, 2]);
  assert.deepEqual([...turned.data], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...orient(px, 2).data], [5, 6, 7, 8, 1, 2, 3, 4]);
  assert.deepEqual([...px.data], [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("an interlaced (Adam7) PNG decodes to Pillow's pixels", async () => {
  const file = join(dir, 'interlaced.png');
  await writeFile(file, await base().png({ progressive: true }).toBuffer());
  const [want] = await pillow([file]);
  const got = toRgb((await decodeForReference(new Uint8Array(await readFile(file)), { exifTranspose: false }))!);
  assert.deepEqual([got.width, got.height], want!.size);
  assert.ok(Buffer.from(got.data).equals(want!.stored));
});
