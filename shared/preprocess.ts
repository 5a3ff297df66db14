/**
 * Image preprocessing as torchvision's ImageNet recipe does it, as one pure function so the worker
 * and the Node reference produce bit-identical tensors from identical decoded pixels:
 * resize the shorter side to 256 (bilinear, antialiased as PIL does), centre-crop 224, scale to [0,1],
 * normalise with ImageNet mean/std, write NCHW float32.
 *
 * For a model whose input is not 224, the resize target keeps torchvision's ratio (256/224).
 */

/** Decoded pixels, row-major, interleaved; alpha (when present) is ignored as PIL's convert('RGB') does. */
export interface Pixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

export interface PreprocessSpec {
  /** Crop height and width: the model's input size. */
  height: number;
  width: number;
  /** The shorter side is resized to this before cropping. */
  resizeShorter: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export function preprocessSpecFor(height: number, width: number): PreprocessSpec {
  return {
    height,
    width,
    resizeShorter: Math.round((Math.min(height, width) * 256) / 224),
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Output size of the resize step, torchvision's rule (int() truncation on the longer side). */
export function resizedSize(srcW: number, srcH: number, spec: PreprocessSpec): { width: number; height: number } {
  let width: number;
  let height: number;
  if (srcW <= srcH) {
    width = spec.resizeShorter;
    height = Math.trunc((spec.resizeShorter * srcH) / srcW);
  } else {
    height = spec.resizeShorter;
    width = Math.trunc((spec.resizeShorter * srcW) / srcH);
  }
  // A non-square model input can ask for more than the shorter-side resize gives; grow to cover it.
  const grow = Math.max(1, spec.width / width, spec.height / height);
  if (grow > 1) {
    width = Math.ceil(width * grow);
    height = Math.ceil(height * grow);
  }
  return { width, height };
}

interface Coefficients {
  /** First source index for each output index. */
  start: Int32Array;
  /** Number of taps for each output index. */
  count: Int32Array;
  /** `taps` weights per output index, normalised to sum 1. */
  weights: Float64Array;
  taps: number;
}

/**
 * PIL's ImagingResample coefficients for the bilinear (triangle) filter over output indices
 * [first, first + n) of a resize from `inSize` to `outSize`: the filter widens when downscaling,
 * which is the antialiasing torchvision gets from PIL.
 */
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
      const x = (t + lo - center + 0.5) / filterScale;
      const w = Math.max(0, 1 - Math.abs(x));
      weights[i * taps + t] = w;
      sum += w;
    }
    if (sum > 0) for (let t = 0; t < k; t++) weights[i * taps + t]! /= sum;
    start[i] = lo;
    count[i] = k;
  }
  return { start, count, weights, taps };
}

/**
 * Preprocesses one image into `out` at `offset` (3 × height × width floats, channel-major).
 * Only the rows and columns that survive the crop are computed.
 */
export function preprocessInto(px: Pixels, spec: PreprocessSpec, out: Float32Array, offset = 0): void {
  const { width: srcW, height: srcH, channels, data } = px;
  if (srcW < 1 || srcH < 1) throw new RangeError(`image has no pixels (${srcW}×${srcH})`);
  const resized = resizedSize(srcW, srcH, spec);
  const top = roundHalfEven((resized.height - spec.height) / 2);
  const left = roundHalfEven((resized.width - spec.width) / 2);
  const cw = coefficients(srcW, resized.width, left, spec.width);
  const ch = coefficients(srcH, resized.height, top, spec.height);

  // Horizontal pass over the source rows the vertical pass will read.
  const rowLo = ch.start[0]!;
  const lastRow = spec.height - 1;
  const rowHi = ch.start[lastRow]! + ch.count[lastRow]!;
  const rows = rowHi - rowLo;
  const tmp = new Float64Array(rows * spec.width * 3);
  for (let y = 0; y < rows; y++) {
    const srcRow = (rowLo + y) * srcW * channels;
    for (let x = 0; x < spec.width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const s = cw.start[x]!;
      const n = cw.count[x]!;
      const wBase = x * cw.taps;
      for (let t = 0; t < n; t++) {
        const w = cw.weights[wBase + t]!;
        const p = srcRow + (s + t) * channels;
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
  const scale = [1 / (255 * spec.std[0]), 1 / (255 * spec.std[1]), 1 / (255 * spec.std[2])];
  const bias = [spec.mean[0] / spec.std[0], spec.mean[1] / spec.std[1], spec.mean[2] / spec.std[2]];
  for (let y = 0; y < spec.height; y++) {
    const s = ch.start[y]! - rowLo;
    const n = ch.count[y]!;
    const wBase = y * ch.taps;
    for (let x = 0; x < spec.width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let t = 0; t < n; t++) {
        const w = ch.weights[wBase + t]!;
        const o = ((s + t) * spec.width + x) * 3;
        r += tmp[o]! * w;
        g += tmp[o + 1]! * w;
        b += tmp[o + 2]! * w;
      }
      const i = offset + y * spec.width + x;
      out[i] = r * scale[0]! - bias[0]!;
      out[i + plane] = g * scale[1]! - bias[1]!;
      out[i + 2 * plane] = b * scale[2]! - bias[2]!;
    }
  }
}

/** Preprocesses one image into a fresh [3, height, width] tensor. */
export function preprocess(px: Pixels, spec: PreprocessSpec): Float32Array {
  const out = new Float32Array(3 * spec.height * spec.width);
  preprocessInto(px, spec, out, 0);
  return out;
}
