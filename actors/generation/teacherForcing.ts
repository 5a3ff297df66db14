/**
 * Checking a generated answer without generating it again: the model runs once over the prompt and
 * the answer's tokens (teacher forcing, in chunks, the cache carried between them), and each generated
 * token is checked against the logits at its step:
 * - greedy: its logit is within GREEDY_TOLERANCE of the largest, so a near-tie that two execution
 *   providers break differently is not a lie, while any other token is;
 * - sampled: the row's seeded draw for that step falls in the token's share of [0, 1), widened by
 *   SAMPLED_TOLERANCE at its edges (the shares come from the checker's own logits, a little off a tab's).
 * And the answer must end where the rules end it: at its first end-of-sequence token or stop string,
 * else at max_tokens, as its finish_reason says.
 *
 * The tolerances: fp32 logits of the same model differ between onnxruntime-node's CPU EP and
 * onnxruntime-web's wasm or WebGPU by ~1e-5 (measured on the test model); fp16 models on WebGPU by up to
 * ~1e-2. A token within 0.02 (plus 0.2% of the largest logit) of the best is one the model itself all
 * but chose; a liar's altered token is almost never that close, and if it is, the text is the model's.
 */
import type * as Ort from 'onnxruntime-common';
import { argmax, drawUniform, tokenInterval, type SamplingParams } from '../../shared/generation/sampling.ts';
import { floats } from './decodeLoop.ts';
import type { CacheLayout } from './modelFiles.ts';

export const GREEDY_TOLERANCE = { absolute: 0.02, relative: 0.002 };
export const SAMPLED_TOLERANCE = 1e-3;
/** Tokens fed a run when checking: the logits of a chunk are what the check holds at once. */
const CHUNK = 32;

export interface ClaimedAnswer {
  prompt: number[];
  tokens: number[];
  params: SamplingParams;
}

export interface CheckSetup {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  layout: CacheLayout;
  ends: ReadonlySet<number>;
  stopped(tokens: number[], params: SamplingParams): boolean;
}

/** What is wrong with token `token` at step `step` given the logits there, or null. */
export function stepProblem(logits: Float32Array, token: number, params: SamplingParams, step: number): string | null {
  if (token < 0 || token >= logits.length || !Number.isInteger(token)) return `token ${token} is not in the vocabulary`;
  if (!(params.temperature > 0)) {
    const best = argmax(logits);
    const slack = GREEDY_TOLERANCE.absolute + GREEDY_TOLERANCE.relative * Math.abs(logits[best]!);
    if (logits[token]! >= logits[best]! - slack) return null;
    return `step ${step}: token ${token} (logit ${logits[token]!.toFixed(4)}) where greedy gives ${best} (${logits[best]!.toFixed(4)})`;
  }
  const u = drawUniform(params.seed, step);
  const widen = { ...params, topP: Math.min(1, params.topP + SAMPLED_TOLERANCE), topK: params.topK > 0 ? params.topK + 1 : 0 };
  const span = tokenInterval(logits, params, token) ?? tokenInterval(logits, widen, token);
  if (span && u >= span.from - SAMPLED_TOLERANCE && u < span.to + SAMPLED_TOLERANCE) return null;
  return span
    ? `step ${step}: the seeded draw ${u.toFixed(6)} is outside token ${token}'s share [${span.from.toFixed(6)}, ${span.to.toFixed(6)})`
    : `step ${step}: token ${token} is not among the tokens top_k/top_p keep`;
}

/** Where the answer should have ended, by the rules alone: what is wrong with its length and finish_reason, or null. */
export function endingProblem(setup: Pick<CheckSetup, 'ends' | 'stopped'>, a: ClaimedAnswer, finish: unknown): string | null {
  const n = a.tokens.length;
  if (n === 0) return 'no token was generated';
  if (n > a.params.maxTokens) return `${n} tokens generated, over max_tokens ${a.params.maxTokens}`;
  for (let j = 0; j < n - 1; j++) {
    if (setup.ends.has(a.tokens[j]!)) return `the end-of-sequence token at step ${j} did not end the answer`;
    if (a.params.stop.length > 0 && setup.stopped(a.tokens.slice(0, j + 1), a.params))
      return `a stop string at step ${j} did not end the answer`;
  }
  const ended = setup.ends.has(a.tokens[n - 1]!) || (a.params.stop.length > 0 && setup.stopped(a.tokens, a.params));
  if (finish === 'stop' && !ended) return 'finish_reason is stop, but the answer ends in no end-of-sequence token or stop string';
  if (finish === 'length' && (ended || n !== a.params.maxTokens))
    return `finish_reason is length, but ${ended ? 'it stopped' : `${n} of ${a.params.maxTokens} tokens`}`;
  if (finish !== 'stop' && finish !== 'length') return `finish_reason ${JSON.stringify(finish)} is neither stop nor length`;
  return null;
}

/** Each generated token checked against the model's logits at its step: the first problem, or null. */
export async function tokensProblem(setup: CheckSetup, a: ClaimedAnswer): Promise<string | null> {
  const { ort, session, layout } = setup;
  const all = [...a.prompt, ...a.tokens];
  let past: Record<string, Ort.Tensor> = {};
  for (const e of layout.entries)
    past[e.input] =
      layout.type === 'float16'
        ? new ort.Tensor('float16', new Uint16Array(0), [1, layout.heads, 0, layout.headDim])
        : new ort.Tensor('float32', new Float32Array(0), [1, layout.heads, 0, layout.headDim]);
  try {
    // The logits at position p predict token p + 1: generated token j is checked at position prompt + j − 1.
    const firstChecked = a.prompt.length - 1;
    let done = 0;
    while (done < all.length - 1) {
      const end = done === 0 ? Math.max(a.prompt.length, 1) : Math.min(all.length - 1, done + CHUNK);
      const chunk = all.slice(done, end);
      const feeds: Record<string, Ort.Tensor> = {
        ...past,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(chunk, BigInt), [1, chunk.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(end).fill(1n), [1, end]),
      };
      if (layout.positionIds)
        feeds.position_ids = new ort.Tensor(
          'int64',
          BigInt64Array.from(chunk, (_, i) => BigInt(done + i)),
          [1, chunk.length],
        );
      const out = await session.run(feeds);
      for (const t of Object.values(past)) t.dispose();
      past = Object.fromEntries(layout.entries.map((e) => [e.input, out[e.output]!]));
      const logitsTensor = out.logits!;
      const vocab = logitsTensor.dims[2]!;
      const logits = await floats(logitsTensor);
      logitsTensor.dispose();
      for (let p = done; p < end; p++) {
        if (p < firstChecked) continue;
        const step = p - firstChecked;
        const problem = stepProblem(logits.subarray((p - done) * vocab, (p - done + 1) * vocab), all[p + 1]!, a.params, step);
        if (problem) return problem;
      }
      done = end;
    }
    return null;
  } finally {
    for (const t of Object.values(past)) t.dispose();
  }
}
