/**
 * The pure helpers of shared/preprocess.ts and shared/pillowResample.ts. That the whole recipe
 * equals torchvision on Pillow, bit for bit, is pillowParity.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pillowResizeRegion } from '../../../shared/pillowResample.ts';
import {
  centerCropOrigin,
  IMAGENET_MEAN,
  IMAGENET_STD,
  preprocess,
  preprocessSpecFor,
  resizedSize,
  type Pixels,
} from '../../../shared/preprocess.ts';

function noise(width: number, height: number, seed: number): Pixels {
  const data = new Uint8Array(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (i & 3) === 3 ? 255 : s >>> 24;
  }
  return { width, height, channels: 4, data };
}

test("the resize keeps torchvision's 256/224 ratio for other input sizes", () => {
  assert.equal(preprocessSpecFor(224, 224).resizeShorter, 256);
  assert.equal(preprocessSpecFor(299, 299).resizeShorter, 342);
  assert.equal(preprocessSpecFor(224, 448).resizeShorter, 256);
  assert.equal(preprocessSpecFor(96, 96).resizeShorter, 110);
});

test('the shorter side goes to 256 and the longer keeps the aspect ratio (torchvision truncation)', () => {
  const spec = preprocessSpecFor(224, 224);
  assert.deepEqual(resizedSize(640, 480, spec), { width: 341, height: 256 });
  assert.deepEqual(resizedSize(100, 300, spec), { width: 256, height: 768 });
  assert.deepEqual(resizedSize(300, 300, spec), { width: 256, height: 256 });
  assert.deepEqual(resizedSize(3000, 17, spec), { width: 45176, height: 256 });
  // No growing to fit a wider crop: torchvision pads instead.
  assert.deepEqual(resizedSize(640, 480, preprocessSpecFor(224, 448)), { width: 341, height: 256 });
});

test('the centre crop rounds halves to even, and pads a crop larger than the image', () => {
  assert.equal(centerCropOrigin(256, 224), 16);
  assert.equal(centerCropOrigin(341, 224), 58); // 58.5 → 58
  assert.equal(centerCropOrigin(343, 224), 60); // 59.5 → 60
  assert.equal(centerCropOrigin(224, 224), 0);
  assert.equal(centerCropOrigin(341, 448), -53); // (448 - 341) // 2 = 53 columns of padding first
  assert.equal(centerCropOrigin(121, 200), -39);
});

test('a 256×256 image is only cropped and normalised, in float32 as torch does it', () => {
  const px = noise(256, 256, 1);
  const t = preprocess(px, preprocessSpecFor(224, 224));
  for (const [y, x, c] of [
    [0, 0, 0],
    [100, 37, 1],
    [223, 223, 2],
  ] as const) {
    const v = px.data[((y + 16) * 256 + (x + 16)) * 4 + c]!;
    const want = Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(IMAGENET_MEAN[c])) / Math.fround(IMAGENET_STD[c]));
    assert.equal(t[c * 224 * 224 + y * 224 + x], want);
  }
});

test('a region of the resize is the same bytes as that part of the whole resize', () => {
  const px = noise(97, 61, 2);
  for (const [outW, outH] of [
    [40, 25],
    [200, 130],
    [97, 30],
    [50, 61],
  ] as const) {
    const whole = pillowResizeRegion(px, outW, outH, 0, 0, outW, outH);
    const [left, top, w, h] = [Math.floor(outW / 3), Math.floor(outH / 4), Math.ceil(outW / 2), Math.ceil(outH / 2)];
    const part = pillowResizeRegion(px, outW, outH, left, top, w, h);
    for (let y = 0; y < h; y++) {
      assert.deepEqual(
        part.subarray(y * w * 3, (y + 1) * w * 3),
        whole.subarray(((top + y) * outW + left) * 3, ((top + y) * outW + left + w) * 3),
      );
    }
  }
  assert.throws(() => pillowResizeRegion(px, 40, 25, 30, 0, 11, 1), RangeError);
});

test('RGB and RGBA pixels give the same tensor (alpha is ignored)', () => {
  const rgba = noise(50, 40, 4);
  const rgb = new Uint8Array(50 * 40 * 3);
  for (let i = 0; i < 50 * 40; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba.data[i * 4 + c]!;
  assert.deepEqual(
    preprocess(rgba, preprocessSpecFor(32, 32)),
    preprocess({ width: 50, height: 40, channels: 3, data: rgb }, preprocessSpecFor(32, 32)),
  );
});

test('RGBA pixels at an odd byte offset give the same tensor (the 32-bit read path is only for aligned data)', () => {
  const rgba = noise(90, 70, 6);
  const shifted = new Uint8Array(rgba.data.length + 1).subarray(1);
  shifted.set(rgba.data);
  const spec = preprocessSpecFor(48, 48);
  assert.deepEqual(preprocess({ ...rgba, data: shifted }, spec), preprocess(rgba, spec));
});

test('the part of a crop outside the resized image is black before normalisation', () => {
  const spec = preprocessSpecFor(224, 448);
  const t = preprocess(noise(640, 480, 5), spec);
  const black = Math.fround(Math.fround(0 - Math.fround(IMAGENET_MEAN[0])) / Math.fround(IMAGENET_STD[0]));
  assert.equal(t[0], black); // column 0 of 53 padded columns
  assert.equal(t[447], black); // the last of 54 on the right
  assert.notEqual(t[53], black);
});
