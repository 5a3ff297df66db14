/**
 * Pillow's `Image.resize(size, Image.BILINEAR)` of an 8-bit RGB image, bit for bit: the code path
 * of src/libImaging/Resample.c (ImagingResampleInner with the 8bpc passes), the same in Pillow 9.4
 * (Debian 12's) and in Pillow's current source.
 *
 * - Coefficients (precompute_coeffs) in double: scale = in/out, filterscale = max(scale, 1),
 *   support = filterscale, taps from trunc(center ± support + 0.5), each tap
 *   triangle((i - center + 0.5) · (1 / filterscale)), then divided by their sum.
 * - normalize_coeffs_8bpc: each coefficient to int32 as trunc(0.5 + k · 2²²) (trunc(-0.5 + k · 2²²)
 *   when negative), PRECISION_BITS = 32 - 8 - 2 = 22.
 * - Each pass accumulates from 1 << 21 and rounds back to uint8 with clip8 (>> 22, clamp 0..255):
 *   horizontal first, over only the source rows the vertical pass reads, then vertical. A pass
 *   whose size is unchanged is skipped (no rounding at all).
 *
 * Only a rectangle of the output is computed: every output pixel depends on its own taps alone,
 * so a crop of the full resize is the same bytes.
 */
import type { Pixels } from './pixels.ts';

const PRECISION_BITS = 22;
const BILINEAR_SUPPORT = 1;
/** Whether a Uint32Array over RGBA bytes has red in its low byte. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const HALF = 1 << (PRECISION_BITS - 1);

/** Fixed-point taps for output indices [first, first + n) of a resize from `inSize` to `outSize`. */
interface Taps {
  /** First source index of each output index. */
  start: Int32Array;
  /** Number of taps of each output index. */
  count: Int32Array;
  /**
   * `ksize` int32 coefficients per output index (2²² is 1), held in doubles: every product and sum
   * stays an integer below 2³¹, so it is exact, and V8 multiplies doubles without overflow checks.
   */
  weights: Float64Array;
  ksize: number;
}

function bilinearTaps(inSize: number, outSize: number, first: number, n: number): Taps {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = BILINEAR_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const invFilterscale = 1 / filterscale;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(n * ksize);
  const k = new Float64Array(ksize);
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * invFilterscale);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[i * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { start, count, weights, ksize };
}

/** Pillow's clip8: back from fixed point to a byte (its lookup table is a clamp to 0..255). */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** The horizontal pass over source rows [rowLo, rowLo + rows): 8-bit RGB, one pixel per output column of `taps`. */
function horizontalPass(px: Pixels, taps: Taps, rowLo: number, rows: number): Uint8Array {
  const { width: srcW, channels, data } = px;
  const { start, count, weights, ksize } = taps;
  const width = start.length;
  const tmp = new Uint8Array(rows * width * 3);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const srcRow = (rowLo + y) * srcW * channels;
    for (let x = 0; x < width; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      const n = count[x]!;
      const kBase = x * ksize;
      let p = srcRow + start[x]! * channels;
      for (let t = 0; t < n; t++, p += channels) {
        const w = weights[kBase + t]!;
        r += data[p]! * w;
        g += data[p + 1]! * w;
        b += data[p + 2]! * w;
      }
      tmp[o++] = clip8(r);
      tmp[o++] = clip8(g);
      tmp[o++] = clip8(b);
    }
  }
  return tmp;
}

/** horizontalPass for 4-byte pixels on a 4-byte boundary: one 32-bit load per tap (little-endian RGBA). */
function horizontalPassRgba(words: Uint32Array, srcW: number, taps: Taps, rowLo: number, rows: number): Uint8Array {
  const { start, count, weights, ksize } = taps;
  const width = start.length;
  const tmp = new Uint8Array(rows * width * 3);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const srcRow = (rowLo + y) * srcW;
    for (let x = 0; x < width; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      const n = count[x]!;
      const kBase = x * ksize;
      let p = srcRow + start[x]!;
      for (let t = 0; t < n; t++, p++) {
        const w = weights[kBase + t]!;
        const v = words[p]!;
        r += (v & 255) * w;
        g += ((v >>> 8) & 255) * w;
        b += ((v >>> 16) & 255) * w;
      }
      tmp[o++] = clip8(r);
      tmp[o++] = clip8(g);
      tmp[o++] = clip8(b);
    }
  }
  return tmp;
}

/** Columns [left, left + width) of source rows [rowLo, rowLo + rows), as 8-bit RGB: no horizontal pass. */
function copyColumns(px: Pixels, left: number, width: number, rowLo: number, rows: number): Uint8Array {
  const { width: srcW, channels, data } = px;
  const tmp = new Uint8Array(rows * width * 3);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    let p = ((rowLo + y) * srcW + left) * channels;
    for (let x = 0; x < width; x++, p += channels) {
      tmp[o++] = data[p]!;
      tmp[o++] = data[p + 1]!;
      tmp[o++] = data[p + 2]!;
    }
  }
  return tmp;
}

/** The vertical pass over rows of `stride` bytes whose first is source row `rowLo`. */
function verticalPass(tmp: Uint8Array, stride: number, taps: Taps, rowLo: number): Uint8Array {
  const { start, count, weights, ksize } = taps;
  const height = start.length;
  const out = new Uint8Array(height * stride);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const n = count[y]!;
    const kBase = y * ksize;
    const first = (start[y]! - rowLo) * stride;
    for (let i = 0; i < stride; i += 3) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      let p = first + i;
      for (let t = 0; t < n; t++, p += stride) {
        const w = weights[kBase + t]!;
        r += tmp[p]! * w;
        g += tmp[p + 1]! * w;
        b += tmp[p + 2]! * w;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/**
 * The `width`×`height` rectangle at (`left`, `top`) of Pillow's bilinear resize of `px` to
 * `outW`×`outH`, as interleaved 8-bit RGB (alpha is ignored: the caller's image is RGB, as after
 * PIL's convert('RGB')). The rectangle must lie inside the output.
 */
export function pillowResizeRegion(
  px: Pixels,
  outW: number,
  outH: number,
  left: number,
  top: number,
  width: number,
  height: number,
): Uint8Array {
  if (left < 0 || top < 0 || width < 0 || height < 0 || left + width > outW || top + height > outH) {
    throw new RangeError(`region ${width}×${height} at (${left}, ${top}) is outside ${outW}×${outH}`);
  }
  if (width === 0 || height === 0) return new Uint8Array(0);
  const tv = outH !== px.height ? bilinearTaps(px.height, outH, top, height) : null;
  const rowLo = tv ? tv.start[0]! : top;
  const rows = tv ? tv.start[height - 1]! + tv.count[height - 1]! - rowLo : height;
  let tmp: Uint8Array;
  if (outW === px.width) tmp = copyColumns(px, left, width, rowLo, rows);
  else {
    const th = bilinearTaps(px.width, outW, left, width);
    const { data } = px;
    tmp =
      px.channels === 4 && LITTLE_ENDIAN && data.byteOffset % 4 === 0
        ? horizontalPassRgba(new Uint32Array(data.buffer, data.byteOffset, data.length >> 2), px.width, th, rowLo, rows)
        : horizontalPass(px, th, rowLo, rows);
  }
  return tv ? verticalPass(tmp, width * 3, tv, rowLo) : tmp;
}
