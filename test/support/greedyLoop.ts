/**
 * The test's own generation loop, written apart from the product's (actors/generation/decodeLoop.ts):
 * onnxruntime-node, one prompt at a time, no cache (the whole sequence runs again each step), the next
 * token by argmax or by the seeded draw. What a tab generates must equal it token for token.
 */
import * as ort from 'onnxruntime-node';
import { chooseToken, type SamplingParams } from '../../shared/generation/sampling.ts';

export interface LoopModel {
  session: ort.InferenceSession;
  layers: number;
  heads: number;
  headDim: number;
  ends: ReadonlySet<number>;
}

export async function loopModel(graph: Uint8Array, layers: number, heads: number, headDim: number, ends: number[]): Promise<LoopModel> {
  return { session: await ort.InferenceSession.create(graph), layers, heads, headDim, ends: new Set(ends) };
}

/** The logits after `tokens` (the last position's), the whole sequence run from scratch. */
export async function nextLogits(m: LoopModel, tokens: number[]): Promise<Float32Array> {
  const n = tokens.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from(tokens, (_, i) => BigInt(i)),
      [1, n],
    ),
  };
  for (let i = 0; i < m.layers; i++)
    for (const kv of ['key', 'value'])
      feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, m.heads, 0, m.headDim]);
  const out = await m.session.run(feeds);
  const logits = out.logits!;
  const vocab = logits.dims[2]!;
  return (logits.data as Float32Array).slice((n - 1) * vocab, n * vocab);
}

/** Tokens after `prompt` until an end token or max_tokens (stop strings are the product's; the tests that use this set none). */
export async function referenceLoop(
  m: LoopModel,
  prompt: number[],
  params: SamplingParams,
): Promise<{ tokens: number[]; finish: 'stop' | 'length' }> {
  const tokens: number[] = [];
  for (let step = 0; step < params.maxTokens; step++) {
    const token = chooseToken(await nextLogits(m, [...prompt, ...tokens]), params, step);
    tokens.push(token);
    if (m.ends.has(token)) return { tokens, finish: 'stop' };
  }
  return { tokens, finish: 'length' };
}
