/**
 * The built-in actor: an ImageNet-style classifier (the built-in ResNet-18, or any --model whose
 * output is [batch, classes]). It is written on the same API as a user's actor (shared/actorApi.ts)
 * and runs the same way: in a tab on onnxruntime-web, in the coordinator on onnxruntime-node. Its
 * rows are `{ class, label, score, topk, logits? }`, as tabpool has always written them.
 */
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, ImageBatch, OutputDeclaration } from '../shared/actorApi.ts';
import { IMAGENET_LABELS } from '../shared/imagenetLabels.ts';
import { softmaxTopK } from '../shared/topk.ts';
import { softmax, topKDisagreement } from './classifierAgreement.ts';

export interface ClassifierConfig {
  inputName: string;
  outputName: string;
  numClasses: number;
  topK: number;
  /** Also write the logits vector (--logits). */
  logits: boolean;
  /** ImageNet's class names for a 1000-class model of the user's; bare indices (`class 281`) otherwise. */
  labels: 'imagenet' | 'index';
  /** The model's batch dimension when it is fixed (many zoo exports: 1): batches run in chunks of it, the last padded. */
  fixedBatch: number | null;
}

type TopK = { class: number; label: string; score: number }[];

export default class Classifier {
  static readonly inputs = 'image';

  static outputs(config: ClassifierConfig): OutputDeclaration {
    const columns: OutputDeclaration = { class: 'int32', label: 'string', score: 'float64', topk: 'topk' };
    if (config.logits) columns.logits = `float64[${config.numClasses}]`;
    return columns;
  }

  /** The reference keeps every class's probability, so a tab's top-k is checked against the full distribution. */
  static referenceConfig(config: ClassifierConfig): ClassifierConfig {
    return { ...config, logits: true };
  }

  static agree(tab: ActorRow, reference: ActorRow): string | null {
    return topKDisagreement(tab.topk as TopK, softmax(reference.logits as number[]));
  }

  static check(row: ActorRow, config: ClassifierConfig): string | null {
    const topk = row.topk as TopK;
    if (topk.length > config.topK) return `topk has ${topk.length} entries, more than --top-k ${config.topK}`;
    for (const e of topk) if (e.class >= config.numClasses) return `class ${e.class} out of range (the model has ${config.numClasses})`;
    if (row.class !== topk[0]!.class) return `class ${String(row.class)} is not the top-k's first (${topk[0]!.class})`;
    return null;
  }

  private ort!: typeof Ort;
  private session!: Ort.InferenceSession;
  private config!: ClassifierConfig;

  async init(ctx: ActorContext<ClassifierConfig>): Promise<void> {
    if (!ctx.model) throw new Error('the classifier needs a model (--model)');
    this.ort = ctx.ort;
    this.config = ctx.config;
    this.session = await ctx.ort.InferenceSession.create(ctx.model, ctx.sessionOptions);
  }

  async call(batch: ImageBatch): Promise<ActorRow[]> {
    const { numClasses, fixedBatch, inputName, outputName } = this.config;
    const [, , height, width] = batch.shape;
    const per = 3 * height * width;
    const rows: ActorRow[] = [];
    const step = fixedBatch ?? Math.max(batch.size, 1);
    for (let first = 0; first < batch.size; first += step) {
      const n = Math.min(step, batch.size - first);
      const size = fixedBatch ?? n;
      let chunk = batch.images.subarray(first * per, (first + n) * per);
      if (n < size) {
        const padded = new Float32Array(size * per);
        padded.set(chunk);
        chunk = padded;
      }
      const out = await this.session.run({ [inputName]: new this.ort.Tensor('float32', chunk, [size, 3, height, width]) }, [outputName]);
      const tensor = out[outputName];
      if (!tensor) throw new Error(`the model returned no output named ${outputName}`);
      const logits = (await tensor.getData()) as Float32Array;
      tensor.dispose();
      for (let j = 0; j < n; j++) rows.push(this.row(logits.subarray(j * numClasses, (j + 1) * numClasses)));
    }
    return rows;
  }

  private row(logits: Float32Array): ActorRow {
    const { topK, numClasses, labels } = this.config;
    const label = (c: number): string => (labels === 'imagenet' ? (IMAGENET_LABELS[c] ?? `class ${c}`) : `class ${c}`);
    const topk = softmaxTopK(logits, Math.min(topK, numClasses)).map((e) => ({ class: e.class, label: label(e.class), score: e.score }));
    const row: ActorRow = { class: topk[0]!.class, label: topk[0]!.label, score: topk[0]!.score, topk };
    if (this.config.logits) row.logits = Array.from(logits);
    return row;
  }
}
