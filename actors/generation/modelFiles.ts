/**
 * A language model directory as Hugging Face repositories lay one out, read from the actor's files
 * (`ctx.models`, from `--model DIR`): `config.json`, `tokenizer.json`, `tokenizer_config.json` (its chat
 * template), and the graph in `onnx/<variant>.onnx` with its external weights beside it
 * (`onnx/<variant>.onnx_data`, `…_data_1`, …). Nothing here is one model family's: sizes come from the
 * config, the cache's shape and type from the graph's own inputs.
 */
import type * as Ort from 'onnxruntime-common';

export interface LmConfig {
  /** `onnx/<variant>.onnx` (--actor-config `{"variant": "model_q4"}`); default `model`. */
  variant: string;
}

export interface LmFiles {
  graph: Uint8Array;
  graphName: string;
  externalData: { path: string; data: Uint8Array }[];
  config: Record<string, unknown>;
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

const text = new TextDecoder();

function json(files: Readonly<Record<string, Uint8Array>>, name: string): Record<string, unknown> {
  const bytes = files[name];
  if (!bytes)
    throw new Error(`the model directory has no ${name}: pass the model's folder with --model DIR, as its repository lays it out`);
  try {
    return JSON.parse(text.decode(bytes)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${name} is not JSON: ${(err as Error).message}`);
  }
}

/** The files of a model directory, by their paths inside it (`ctx.models`). */
export function lmFiles(files: Readonly<Record<string, Uint8Array>>, variant: string): LmFiles {
  const graphName = `onnx/${variant}.onnx`;
  const graph = files[graphName];
  if (!graph) {
    const graphs = Object.keys(files).filter((n) => n.startsWith('onnx/') && n.endsWith('.onnx'));
    throw new Error(
      `the model directory has no ${graphName}` +
        (graphs.length
          ? `; it has ${graphs.join(', ')}: pick one with --actor-config '{"variant": "…"}'`
          : ': pass the model folder with --model DIR'),
    );
  }
  const externalData = Object.keys(files)
    .filter((n) => n.startsWith(`${graphName}_data`))
    .sort()
    .map((n) => ({ path: n.slice('onnx/'.length), data: files[n]! }));
  return {
    graph,
    graphName,
    externalData,
    config: json(files, 'config.json'),
    tokenizer: json(files, 'tokenizer.json'),
    tokenizerConfig: json(files, 'tokenizer_config.json'),
  };
}

/** The key/value cache the graph takes back each step: its layers, and each entry's type and shape but for batch and length. */
export interface CacheLayout {
  /** `past_key_values.{i}.key` / `.value` input names, in order, with the matching `present.{i}.…` outputs. */
  entries: { input: string; output: string }[];
  type: 'float32' | 'float16';
  heads: number;
  headDim: number;
  /** Whether the graph takes `position_ids`. */
  positionIds: boolean;
}

function numberOf(config: Record<string, unknown>, ...names: string[]): number | null {
  for (const n of names) if (typeof config[n] === 'number') return config[n];
  return null;
}

/** The cache layout from the session's own inputs, and the config where the graph leaves a size symbolic. */
export function cacheLayout(session: Ort.InferenceSession, config: Record<string, unknown>): CacheLayout {
  const needed = ['input_ids', 'attention_mask'];
  for (const n of needed)
    if (!session.inputNames.includes(n))
      throw new Error(`the graph has no ${n} input: it is not a decoder-only model in the Optimum layout`);
  if (!session.outputNames.includes('logits')) throw new Error('the graph has no logits output');
  const entries = session.inputNames
    .filter((n) => /^past_key_values\.\d+\.(key|value)$/.test(n))
    .map((input) => ({ input, output: input.replace('past_key_values', 'present') }));
  if (entries.length === 0) throw new Error('the graph takes no past_key_values.{i}.key/value: export it with its cache (with-past)');
  for (const e of entries)
    if (!session.outputNames.includes(e.output)) throw new Error(`the graph takes ${e.input} but gives no ${e.output}`);
  const meta = session.inputMetadata.find((m) => m.name === entries[0]!.input);
  const shape = meta && meta.isTensor ? meta.shape : [];
  const type = meta && meta.isTensor ? meta.type : 'float32';
  if (type !== 'float32' && type !== 'float16') throw new Error(`the cache is ${type}; float32 and float16 caches are supported`);
  const hidden = numberOf(config, 'hidden_size', 'n_embd', 'd_model');
  const attentionHeads = numberOf(config, 'num_attention_heads', 'n_head');
  const heads =
    (typeof shape[1] === 'number' ? shape[1] : null) ?? numberOf(config, 'num_key_value_heads', 'num_kv_heads') ?? attentionHeads;
  const headDim =
    (typeof shape[3] === 'number' ? shape[3] : null) ??
    numberOf(config, 'head_dim') ??
    (hidden !== null && attentionHeads !== null ? hidden / attentionHeads : null);
  if (heads === null || headDim === null)
    throw new Error('the cache size is not in the graph nor in config.json (num_key_value_heads, head_dim or hidden_size)');
  return { entries, type, heads, headDim, positionIds: session.inputNames.includes('position_ids') };
}

/** Ids that end a sequence: config.json's eos_token_id (one or several) and the tokenizer's eos_token. */
export function endIds(config: Record<string, unknown>, eosTokenId: number | undefined): number[] {
  const fromConfig = config.eos_token_id;
  const ids = Array.isArray(fromConfig) ? fromConfig : typeof fromConfig === 'number' ? [fromConfig] : [];
  return [...new Set([...ids.filter((i): i is number => typeof i === 'number'), ...(eosTokenId === undefined ? [] : [eosTokenId])])];
}
