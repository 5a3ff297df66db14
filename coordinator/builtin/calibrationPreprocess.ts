/**
 * The preprocessing the built-in models were calibrated with: torchvision's recipe with the
 * resize in float64 (PIL's bilinear coefficients, no fixed-point rounding between or after the
 * passes), normalised in float64. shared/preprocess.ts has since become Pillow-exact; calibration
 * keeps this so the built-in models' bytes (and their pinned SHA-256) stay as they were. The
 * calibrated statistics are only meant to make the top-1 follow the picture, which either gives.
 */
import { centerCropOrigin, resizedSize, type Pixels, type PreprocessSpec } from '../../shared/preprocess.ts';

interface Coefficients {
  start: Int32Array;
  count: Int32Array;
  /** `taps` weights per output index, normalised to sum 1. */
  weights: Float64Array;
  taps: number;
}

/** PIL's triangle-filter coefficients, in double, for output indices [first, first + n). */
function coefficients(inSize: number, outSize: number, first: number, n: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(n * taps);
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    const k = Math.min(hi - lo, taps);
    for (let t = 0; t < k; t++) {
      const w = Math.max(0, 1 - Math.abs((t + lo - center + 0.5) / filterScale));
      weights[i * taps + t] = w;
      sum += w;
    }
    if (sum > 0) for (let t = 0; t < k; t++) weights[i * taps + t]! /= sum;
    start[i] = lo;
    count[i] = k;
  }
  return { start, count, weights, taps };
}

/** A [3, height, width] tensor of `px` for calibration; the crop must fit inside the resized image. */
export function calibrationPreprocess(px: Pixels, spec: PreprocessSpec): Float32Array {
  const { width: srcW, height: srcH, channels, data } = px;
  const resized = resizedSize(srcW, srcH, spec);
  if (resized.width < spec.width || resized.height < spec.height) throw new RangeError('calibration images must cover the crop');
  const top = centerCropOrigin(resized.height, spec.height);
  const left = centerCropOrigin(resized.width, spec.width);
  const cw = coefficients(srcW, resized.width, left, spec.width);
  const ch = coefficients(srcH, resized.height, top, spec.height);

  const rowLo = ch.start[0]!;
  const lastRow = spec.height - 1;
  const rows = ch.start[lastRow]! + ch.count[lastRow]! - rowLo;
  const tmp = new Float64Array(rows * spec.width * 3);
  for (let y = 0; y < rows; y++) {
    const srcRow = (rowLo + y) * srcW * channels;
    for (let x = 0; x < spec.width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let t = 0; t < cw.count[x]!; t++) {
        const w = cw.weights[x * cw.taps + t]!;
        const p = srcRow + (cw.start[x]! + t) * channels;
        r += data[p]! * w;
        g += data[p + 1]! * w;
        b += data[p + 2]! * w;
      }
      const o = (y * spec.width + x) * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }

  const plane = spec.height * spec.width;
  const out = new Float32Array(3 * plane);
  const scale = spec.std.map((s) => 1 / (255 * s));
  const bias = spec.mean.map((m, c) => m / spec.std[c]!);
  for (let y = 0; y < spec.height; y++) {
    const s = ch.start[y]! - rowLo;
    for (let x = 0; x < spec.width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let t = 0; t < ch.count[y]!; t++) {
        const w = ch.weights[y * ch.taps + t]!;
        const o = ((s + t) * spec.width + x) * 3;
        r += tmp[o]! * w;
        g += tmp[o + 1]! * w;
        b += tmp[o + 2]! * w;
      }
      const i = y * spec.width + x;
      out[i] = r * scale[0]! - bias[0]!;
      out[i + plane] = g * scale[1]! - bias[1]!;
      out[i + 2 * plane] = b * scale[2]! - bias[2]!;
    }
  }
  return out;
}
