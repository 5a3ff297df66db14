/**
 * Image preprocessing exactly as torchvision's ImageNet recipe computes it on a PIL image, as one
 * pure function so the worker and the Node reference produce bit-identical tensors from identical
 * decoded pixels:
 *
 *   Resize(resizeShorter) → CenterCrop((height, width)) → ToTensor() → Normalize(mean, std)
 *
 * or, without the crop (Ray's `read_images(size=(h, w))`), `img.resize((w, h), BILINEAR)` → ToTensor → Normalize.
 *
 * Resize is Pillow's fixed-point bilinear resize (shared/pillowResample.ts), ToTensor and Normalize
 * are float32 as torch computes them. test/integration/shared/pillowParity.test.ts checks it against
 * Pillow itself, element for element.
 *
 * For a model whose input is not 224, the resize target keeps torchvision's ratio (256/224).
 */
import type { Pixels } from './pixels.ts';
import { pillowResizeRegion } from './pillowResample.ts';

export type { Pixels };

/** What preprocessing makes of an image: the model's input size, the resize and the normalisation. */
export interface PreprocessSpec {
  /** Crop height and width: the model's input size. */
  height: number;
  width: number;
  /** The shorter side is resized to this before cropping. */
  resizeShorter: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /**
   * True: torchvision's Resize(shorter side) then CenterCrop. False: Ray's `read_images(size=…)`, one
   * Pillow resize to exactly height × width, the aspect ratio not kept, nothing cut off.
   */
  crop: boolean;
}

/** How image inputs reach an actor: a tensor made by `spec`, or `'none'`, the raw RGB pixels. */
export type ImagePreprocess = PreprocessSpec | 'none';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** The ImageNet recipe for a model input of `height`×`width` (Resize(256) + CenterCrop(224) at 224). */
export function preprocessSpecFor(height: number, width: number): PreprocessSpec {
  return {
    height,
    width,
    resizeShorter: Math.round((Math.min(height, width) * 256) / 224),
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    crop: true,
  };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Output size of the resize step, torchvision's `_compute_resized_output_size` with max_size None:
 * the shorter side (the width on a tie) becomes `resizeShorter`, the longer `int(S · long / short)`.
 */
export function resizedSize(srcW: number, srcH: number, spec: PreprocessSpec): { width: number; height: number } {
  const s = spec.resizeShorter;
  return srcW <= srcH ? { width: s, height: Math.trunc((s * srcH) / srcW) } : { width: Math.trunc((s * srcW) / srcH), height: s };
}

/**
 * Where torchvision's center_crop takes the crop from an image of `size` pixels along one axis:
 * output index i reads image index i + origin (outside the image it is padding, 0). A crop larger
 * than the image pads it first ((crop - size) // 2 before), then crops the padded image from 0.
 */
export function centerCropOrigin(size: number, crop: number): number {
  if (crop > size) return -Math.floor((crop - size) / 2);
  return roundHalfEven((size - crop) / 2);
}

/** An 8-bit RGB image, interleaved. */
export interface Rgb8 {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * The resized and centre-cropped image before ToTensor, as torchvision holds it (a PIL RGB image):
 * the part of the crop outside the resized image is black, as torchvision's padding makes it.
 */
export function resizeAndCrop(px: Pixels, spec: PreprocessSpec): Rgb8 {
  const { width: srcW, height: srcH } = px;
  if (srcW < 1 || srcH < 1) throw new RangeError(`image has no pixels (${srcW}×${srcH})`);
  const cw = spec.width;
  const ch = spec.height;
  if (!spec.crop) return { width: cw, height: ch, data: pillowResizeRegion(px, cw, ch, 0, 0, cw, ch) };
  const size = resizedSize(srcW, srcH, spec);
  const ox = centerCropOrigin(size.width, cw);
  const oy = centerCropOrigin(size.height, ch);
  // The crop's columns and rows that fall inside the resized image.
  const x0 = Math.max(0, -ox);
  const x1 = Math.min(cw, size.width - ox);
  const y0 = Math.max(0, -oy);
  const y1 = Math.min(ch, size.height - oy);
  const region = pillowResizeRegion(px, size.width, size.height, x0 + ox, y0 + oy, x1 - x0, y1 - y0);
  if (x0 === 0 && y0 === 0 && x1 === cw && y1 === ch) return { width: cw, height: ch, data: region };
  const data = new Uint8Array(cw * ch * 3);
  const rowBytes = (x1 - x0) * 3;
  for (let y = y0; y < y1; y++) data.set(region.subarray((y - y0) * rowBytes, (y - y0 + 1) * rowBytes), (y * cw + x0) * 3);
  return { width: cw, height: ch, data };
}

/**
 * ToTensor then Normalize for every byte value, per channel, in float32 as torch does them:
 * x = u8 / 255, then (x - mean) / std with float32 mean and std. Math.fround after each double
 * operation is exactly the float32 operation (a double holds more than twice float32's precision).
 */
function normalisationTable(spec: PreprocessSpec): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(spec.mean[c]!);
    const std = Math.fround(spec.std[c]!);
    for (let v = 0; v < 256; v++) table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  }
  return table;
}

/** Preprocesses one image into `out` at `offset` (3 × height × width floats, channel-major). */
export function preprocessInto(px: Pixels, spec: PreprocessSpec, out: Float32Array, offset = 0): void {
  const { data } = resizeAndCrop(px, spec);
  const table = normalisationTable(spec);
  const plane = spec.height * spec.width;
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    out[offset + i] = table[data[p]!]!;
    out[offset + plane + i] = table[256 + data[p + 1]!]!;
    out[offset + 2 * plane + i] = table[512 + data[p + 2]!]!;
  }
}

/** Preprocesses one image into a fresh [3, height, width] tensor. */
export function preprocess(px: Pixels, spec: PreprocessSpec): Float32Array {
  const out = new Float32Array(3 * spec.height * spec.width);
  preprocessInto(px, spec, out, 0);
  return out;
}
