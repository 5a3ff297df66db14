import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IMAGENET_MEAN, IMAGENET_STD, preprocess, preprocessSpecFor, resizedSize, type Pixels } from '../../../shared/preprocess.ts';

function noise(width: number, height: number, seed: number): Pixels {
  const data = new Uint8Array(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (i & 3) === 3 ? 255 : s >>> 24;
  }
  return { width, height, channels: 4, data };
}

/** Full-image reference: resize everything with PIL's triangle filter, then crop. Slow, obvious. */
function reference(px: Pixels, size: number): Float32Array {
  const spec = preprocessSpecFor(size, size);
  const { width: ow, height: oh } = resizedSize(px.width, px.height, spec);
  const weightsFor = (inSize: number, outSize: number, o: number): [number, number][] => {
    const scale = inSize / outSize;
    const fs = Math.max(scale, 1);
    const center = (o + 0.5) * scale;
    const out: [number, number][] = [];
    let sum = 0;
    for (let i = 0; i < inSize; i++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / fs));
      if (w > 0) {
        out.push([i, w]);
        sum += w;
      }
    }
    return out.map(([i, w]) => [i, w / sum]);
  };
  // torchvision: int(round((h - size) / 2)), and Python rounds halves to even.
  const pyRound = (v: number) => (v % 1 === 0.5 ? (Math.floor(v) % 2 === 0 ? Math.floor(v) : Math.ceil(v)) : Math.round(v));
  const top = pyRound((oh - size) / 2);
  const left = pyRound((ow - size) / 2);
  const t = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    const wy = weightsFor(px.height, oh, y + top);
    for (let x = 0; x < size; x++) {
      const wx = weightsFor(px.width, ow, x + left);
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (const [sy, a] of wy) for (const [sx, b] of wx) v += px.data[(sy * px.width + sx) * 4 + c]! * a * b;
        t[c * size * size + y * size + x] = (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
      }
    }
  }
  return t;
}

test('a 256×256 image is only cropped and normalised (resize is the identity)', () => {
  const px = noise(256, 256, 1);
  const t = preprocess(px, preprocessSpecFor(224, 224));
  for (const [y, x, c] of [[0, 0, 0], [100, 37, 1], [223, 223, 2]] as const) {
    const v = px.data[((y + 16) * 256 + (x + 16)) * 4 + c]!;
    assert.ok(Math.abs(t[c * 224 * 224 + y * 224 + x]! - (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) < 1e-5);
  }
});

test('downscaling matches a full-image PIL-style antialiased resize, then centre crop', () => {
  const px = noise(97, 61, 2);
  const got = preprocess(px, preprocessSpecFor(32, 32));
  const want = reference(px, 32);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-4, `index ${i}: ${got[i]} vs ${want[i]}`);
});

test('upscaling a small image matches the reference too', () => {
  const px = noise(20, 30, 3);
  const got = preprocess(px, preprocessSpecFor(24, 24));
  const want = reference(px, 24);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-4);
});

test('the shorter side goes to 256 and the longer keeps the aspect ratio (torchvision truncation)', () => {
  assert.deepEqual(resizedSize(640, 480, preprocessSpecFor(224, 224)), { width: 341, height: 256 });
  assert.deepEqual(resizedSize(100, 300, preprocessSpecFor(224, 224)), { width: 256, height: 768 });
});

test('RGB and RGBA pixels give the same tensor (alpha is ignored)', () => {
  const rgba = noise(50, 40, 4);
  const rgb = new Uint8Array(50 * 40 * 3);
  for (let i = 0; i < 50 * 40; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba.data[i * 4 + c]!;
  assert.deepEqual(preprocess(rgba, preprocessSpecFor(32, 32)), preprocess({ width: 50, height: 40, channels: 3, data: rgb }, preprocessSpecFor(32, 32)));
});
