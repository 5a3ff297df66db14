/**
 * A records actor: each record's `features` (8 numbers) scored by a small model (the built-in
 * `scorer`, an 8-16-1 MLP), with a label from a threshold. Records come from a JSON Lines, CSV or
 * Parquet file (the built-in sample of 512 records when --data is not given).
 *
 *   npx tabpool run --actor examples/score.ts --model scorer --out scores.jsonl --launch 2
 *
 * `--actor-config '{"threshold": 0.7}'` moves the threshold. A record without 8 numeric features
 * gets an ACTOR_ERROR row naming it; the others are scored.
 */
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, RecordBatch } from 'tabpool/actor';

const FEATURES = 8;

interface Config {
  threshold?: number;
}

export default class Scorer {
  static inputs = 'record' as const;
  static outputs = { score: 'float32', label: 'string', group: 'string' } as const;

  private ort!: ActorContext['ort'];
  private session!: Ort.InferenceSession;
  private threshold = 0.5;

  async init(ctx: ActorContext<Config | null>): Promise<void> {
    this.ort = ctx.ort;
    this.threshold = ctx.config?.threshold ?? 0.5;
    if (!ctx.model) throw new Error('pass the scoring model with --model (for example --model scorer)');
    this.session = await ctx.ort.InferenceSession.create(ctx.model, ctx.sessionOptions);
  }

  async call(batch: RecordBatch): Promise<ActorRow[]> {
    const input = new Float32Array(batch.size * FEATURES);
    for (const [i, record] of batch.records.entries()) {
      const f = record.features;
      if (!Array.isArray(f) || f.length !== FEATURES || !f.every((x) => typeof x === 'number')) {
        throw new Error(`record ${batch.ids[i]} has no ${FEATURES} numeric "features"`);
      }
      input.set(f as number[], i * FEATURES);
    }
    const out = await this.session.run({ [this.session.inputNames[0]!]: new this.ort.Tensor('float32', input, [batch.size, FEATURES]) });
    const scores = (await out[this.session.outputNames[0]!]!.getData()) as Float32Array;
    return batch.records.map((r, i) => ({
      score: scores[i]!,
      label: scores[i]! >= this.threshold ? 'high' : 'low',
      group: typeof r.group === 'string' ? r.group : '',
    }));
  }
}
