/**
 * An embeddings actor: each image's feature vector from a network that ends at its pooled features
 * (the built-in `resnet18-features`: ResNet-18 without its classifier, 512 values), and the
 * vector's length. Ray's version is a class with `__init__` loading the model and `__call__`
 * running a batch; this is the same class.
 *
 *   npx tabpool run --actor examples/embed.ts --model resnet18-features --out embeddings.parquet --launch 2
 *
 * `--actor-config '{"dim": 64}'` for a model with other than 512 features (resnet18-tiny-features).
 */
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, ImageBatch } from 'tabpool/actor';

interface Config {
  dim?: number;
}

export default class Embedder {
  static inputs = 'image' as const;
  static outputs = (config: Config | null) => ({ embedding: `float32[${config?.dim ?? 512}]` as const, norm: 'float64' as const });

  private ort!: ActorContext['ort'];
  private session!: Ort.InferenceSession;
  private dim = 512;

  async init(ctx: ActorContext<Config | null>): Promise<void> {
    this.ort = ctx.ort;
    this.dim = ctx.config?.dim ?? 512;
    if (!ctx.model) throw new Error('pass the features model with --model (for example --model resnet18-features)');
    this.session = await ctx.ort.InferenceSession.create(ctx.model, ctx.sessionOptions);
  }

  async call(batch: ImageBatch): Promise<ActorRow[]> {
    const input = this.session.inputNames[0]!;
    const output = this.session.outputNames[0]!;
    const out = await this.session.run({ [input]: new this.ort.Tensor('float32', batch.images, batch.shape) });
    const features = (await out[output]!.getData()) as Float32Array;
    if (features.length !== batch.size * this.dim)
      throw new Error(`the model gave ${features.length / batch.size} features an image, not ${this.dim}`);
    const rows: ActorRow[] = [];
    for (let i = 0; i < batch.size; i++) {
      const embedding = features.slice(i * this.dim, (i + 1) * this.dim);
      let sum = 0;
      for (const v of embedding) sum += v * v;
      rows.push({ embedding, norm: Math.sqrt(sum) });
    }
    return rows;
  }
}
