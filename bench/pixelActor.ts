/**
 * The bench's raw-pixel actor (`static preprocess = 'none'`): each image's RGB bytes, at its own
 * size, turned into a normalised NCHW tensor by the actor itself, then the features network, as a
 * detection or OCR actor would feed its own model. The bench feeds it 224 × 224 images, the size
 * its raw speed is timed at (black 224 × 224 images), so the job and the ceiling do the same work.
 */
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, PixelsBatch } from '../shared/actorApi.ts';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

export default class PixelEmbedder {
  static inputs = 'image' as const;
  static preprocess = 'none' as const;
  static outputs = { norm: 'float64', width: 'int32', height: 'int32' } as const;

  private ort!: ActorContext['ort'];
  private session!: Ort.InferenceSession;

  async init(ctx: ActorContext): Promise<void> {
    this.ort = ctx.ort;
    this.session = await ctx.ort.InferenceSession.create(ctx.model!, ctx.sessionOptions);
  }

  async call(batch: PixelsBatch): Promise<ActorRow[]> {
    const [first] = batch.pixels;
    const { width: w, height: h } = first!;
    const plane = w * h;
    const input = new Float32Array(batch.size * 3 * plane);
    for (const [i, img] of batch.pixels.entries()) {
      if (img.width !== w || img.height !== h)
        throw new Error(`${batch.ids[i]} is ${img.width}×${img.height}; this actor takes one size a batch`);
      for (let p = 0; p < plane; p++)
        for (let c = 0; c < 3; c++) input[(i * 3 + c) * plane + p] = (img.data[p * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
    }
    const out = await this.session.run({ [this.session.inputNames[0]!]: new this.ort.Tensor('float32', input, [batch.size, 3, h, w]) });
    const features = (await out[this.session.outputNames[0]!]!.getData()) as Float32Array;
    const dim = features.length / batch.size;
    return batch.pixels.map((img, i) => {
      let sum = 0;
      for (let k = i * dim; k < (i + 1) * dim; k++) sum += features[k]! * features[k]!;
      return { norm: Math.sqrt(sum), width: img.width, height: img.height };
    });
  }
}
