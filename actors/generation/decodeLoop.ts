/**
 * Batched generation on one ONNX session with a key/value cache, the way a server batches: the
 * prompts left-padded under an attention mask and run together once (prefill), then one token a
 * step for every sequence still going. A sequence that ends (an end-of-sequence token, a stop string,
 * max_tokens) leaves the batch and the others go on with a smaller one. On WebGPU the cache stays on
 * the GPU from step to step (the session's `present.*` outputs are GPU buffers fed back as the next
 * step's `past_key_values.*`); it is read back only to drop a finished sequence's rows. Tensors are
 * disposed as soon as the next step has replaced them.
 *
 * Left padding changes nothing a sequence computes: a padded key is masked, so it adds exactly zero
 * to every real token's attention, and the positions count from each sequence's own first token.
 */
import type * as Ort from 'onnxruntime-common';
import { chooseToken, type SamplingParams } from '../../shared/generation/sampling.ts';
import type { CacheLayout } from './modelFiles.ts';

export interface GenerationRequest {
  prompt: number[];
  params: SamplingParams;
}

export type FinishReason = 'stop' | 'length';

export interface GenerationResult {
  tokens: number[];
  finish: FinishReason;
}

export interface DecodeSetup {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  layout: CacheLayout;
  /** Ids that end a sequence (kept as its last generated token). */
  ends: ReadonlySet<number>;
  padId: number;
  /** Whether the tokens so far end in one of the request's stop strings. */
  stopped(tokens: number[], params: SamplingParams): boolean;
}

interface Running {
  index: number;
  request: GenerationRequest;
  tokens: number[];
}

/** float16 (IEEE half) bits → number, for a graph whose logits are float16. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** A logits tensor's values as float32 (a float16 graph's converted). */
export async function floats(t: Ort.Tensor): Promise<Float32Array> {
  const data = await t.getData();
  if (data instanceof Float32Array) return data;
  if (data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  throw new Error(`logits of type ${t.type} are not supported`);
}

export async function generate(setup: DecodeSetup, requests: GenerationRequest[]): Promise<GenerationResult[]> {
  const { ort, session, layout } = setup;
  const results: (GenerationResult | null)[] = requests.map(() => null);
  let running: Running[] = requests.map((request, index) => ({ index, request, tokens: [] }));
  const width = Math.max(...requests.map((r) => r.prompt.length));
  // Each row's attention mask, as it grows a column a step.
  let mask = running.map((r) => [...new Array<number>(width - r.request.prompt.length).fill(0), ...r.request.prompt.map(() => 1)]);
  let past: Record<string, Ort.Tensor> = {};
  const empty = (batch: number): Ort.Tensor =>
    layout.type === 'float16'
      ? new ort.Tensor('float16', new Uint16Array(0), [batch, layout.heads, 0, layout.headDim])
      : new ort.Tensor('float32', new Float32Array(0), [batch, layout.heads, 0, layout.headDim]);
  for (const e of layout.entries) past[e.input] = empty(running.length);
  let ids = running.map((r) => [...new Array<number>(width - r.request.prompt.length).fill(setup.padId), ...r.request.prompt]);
  let positions = running.map((r) => [...new Array<number>(width - r.request.prompt.length).fill(0), ...r.request.prompt.map((_, i) => i)]);
  try {
    for (let step = 0; running.length > 0; step++) {
      const seq = ids[0]!.length;
      const feeds: Record<string, Ort.Tensor> = {
        ...past,
        input_ids: int64(ort, ids, [running.length, seq]),
        attention_mask: int64(ort, mask, [running.length, mask[0]!.length]),
      };
      if (layout.positionIds) feeds.position_ids = int64(ort, positions, [running.length, seq]);
      const out = await session.run(feeds);
      for (const t of Object.values(past)) t.dispose();
      past = Object.fromEntries(layout.entries.map((e) => [e.input, out[e.output]!]));
      const logitsTensor = out.logits!;
      const logits = await floats(logitsTensor);
      logitsTensor.dispose();
      const vocab = logitsTensor.dims[2]!;
      const keep: number[] = [];
      for (const [b, r] of running.entries()) {
        const last = logits.subarray((b * seq + seq - 1) * vocab, (b * seq + seq) * vocab);
        const token = chooseToken(last, r.request.params, step);
        r.tokens.push(token);
        const finish: FinishReason | null =
          setup.ends.has(token) || setup.stopped(r.tokens, r.request.params)
            ? 'stop'
            : r.tokens.length >= r.request.params.maxTokens
              ? 'length'
              : null;
        if (finish) results[r.index] = { tokens: r.tokens, finish };
        else keep.push(b);
      }
      if (keep.length < running.length && keep.length > 0) past = await dropRows(ort, layout, past, keep, running.length);
      running = keep.map((b) => running[b]!);
      mask = keep.map((b) => [...mask[b]!, 1]);
      ids = running.map((r) => [r.tokens[r.tokens.length - 1]!]);
      positions = running.map((r) => [r.request.prompt.length + r.tokens.length - 1]);
    }
  } finally {
    for (const t of Object.values(past)) t.dispose();
  }
  return results.map((r) => r!);
}

function int64(ort: typeof Ort, rows: number[][], dims: number[]): Ort.Tensor {
  const data = new BigInt64Array(dims.reduce((a, b) => a * b, 1));
  let at = 0;
  for (const row of rows) for (const v of row) data[at++] = BigInt(v);
  return new ort.Tensor('int64', data, dims);
}

/** The cache with only the batch rows `keep` (read back from the GPU where it lives there), the old tensors disposed. */
async function dropRows(
  ort: typeof Ort,
  layout: CacheLayout,
  past: Record<string, Ort.Tensor>,
  keep: number[],
  batch: number,
): Promise<Record<string, Ort.Tensor>> {
  const next: Record<string, Ort.Tensor> = {};
  for (const [name, t] of Object.entries(past)) {
    const data = (await t.getData()) as Float32Array | Uint16Array;
    const per = data.length / batch;
    const kept = layout.type === 'float16' ? new Uint16Array(keep.length * per) : new Float32Array(keep.length * per);
    keep.forEach((b, j) => kept.set(data.subarray(b * per, (b + 1) * per), j * per));
    t.dispose();
    const dims = [keep.length, ...t.dims.slice(1)];
    next[name] =
      layout.type === 'float16'
        ? new ort.Tensor('float16', kept as Uint16Array, dims)
        : new ort.Tensor('float32', kept as Float32Array, dims);
  }
  return next;
}
