/**
 * `--actor generate` (`Generator` in the Node API): the built-in generation actor (actors/generator.ts),
 * bundled and run as a user's module is, with the config tabpool completes for it: the record fields
 * carried into each row (named and typed by the dataset's first record), and the cache's bytes a token
 * (from the model's config.json), which --memory's default counts.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ColumnType } from '../../shared/actorApi.ts';
import { TabpoolError } from '../../shared/errors.ts';
import type { Dataset } from '../io/dataset.ts';
import { readDatasetItem } from '../io/datasetFeeder.ts';
import type { JobFile } from '../model/jobFiles.ts';

/** The name `--actor` and the API take for the built-in generation actor. */
export const GENERATE = 'generate';

/** Record fields never carried into a row: the row's id, and what the generator reads. */
const READ_FIELDS = new Set(['id', 'prompt', 'messages', 'sampling_params']);
/** Columns the generator writes: a record field of the same name would be overwritten, so it is refused. */
const WRITTEN = ['generated_text', 'generated_tokens', 'num_input_tokens', 'num_generated_tokens', 'finish_reason'];

/** The generator's module: its TypeScript in the clone, its compiled JavaScript in the installed package. */
export function generatorModule(): string {
  const compiled = import.meta.url.endsWith('.js');
  return fileURLToPath(new URL(`../../actors/generator.${compiled ? 'js' : 'ts'}`, import.meta.url));
}

/** A carried field's column type, by its value in the first record: later records must match it. */
function columnOf(value: unknown): ColumnType {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'float64';
  return 'json';
}

async function firstRecord(dataset: Dataset): Promise<Record<string, unknown>> {
  for await (const item of dataset.items()) {
    const r = await readDatasetItem(item, 'record');
    if (!('bytes' in r)) continue;
    try {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(r.bytes));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // A record that is not JSON gets its BAD_RECORD row when the job reads it; look at the next.
    }
  }
  throw new TabpoolError('DATA_EMPTY', `${dataset.describe} has no record tabpool can read`);
}

/** The bytes of cache a token takes: keys and values, every layer, by config.json (float16 for an fp16/q4f16 variant). */
function cacheBytesPerToken(config: Record<string, unknown>, variant: string): number {
  const n = (k: string): number | null => (typeof config[k] === 'number' ? config[k] : null);
  const layers = n('num_hidden_layers') ?? n('n_layer') ?? 0;
  const heads = n('num_key_value_heads') ?? n('num_attention_heads') ?? n('n_head') ?? 0;
  const headDim = n('head_dim') ?? (n('hidden_size') ?? n('n_embd') ?? 0) / Math.max(1, n('num_attention_heads') ?? n('n_head') ?? 1);
  const bytes = /f16|fp16|half/i.test(variant) ? 2 : 4;
  return 2 * layers * heads * headDim * bytes;
}

/** The generator's config: the job's (--actor-config), checked, with the carried columns and the cache size added. */
export async function generatorConfig(given: unknown, files: readonly JobFile[], dataset: Dataset): Promise<Record<string, unknown>> {
  if (given !== null && (typeof given !== 'object' || Array.isArray(given)))
    throw new TabpoolError('BAD_ARGUMENT', `--actor-config for --actor generate must be an object, e.g. '{"max_tokens": 64}'`);
  const config = { ...((given as Record<string, unknown> | null) ?? {}) };
  for (const k of ['carry', 'cache_bytes_per_token'])
    if (k in config) throw new TabpoolError('BAD_ARGUMENT', `--actor-config ${k} is set by tabpool itself; drop it`);
  const variant = typeof config.variant === 'string' ? config.variant : 'model';
  const configFile = files.find((f) => f.name === 'config.json');
  if (!configFile || !files.some((f) => f.name === `onnx/${variant}.onnx`))
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--actor generate needs a model directory as Hugging Face repositories lay one out (config.json, tokenizer.json, ` +
        `tokenizer_config.json, onnx/${variant}.onnx): pass it with --model DIR` +
        (files.length
          ? `; got ${files
              .map((f) => f.name)
              .slice(0, 6)
              .join(', ')}`
          : ''),
    );
  const modelConfig = JSON.parse(await readFile(configFile.path, 'utf8')) as Record<string, unknown>;
  const first = await firstRecord(dataset);
  const carry: Record<string, ColumnType> = {};
  for (const [k, v] of Object.entries(first)) {
    if (READ_FIELDS.has(k)) continue;
    if (WRITTEN.includes(k))
      throw new TabpoolError('BAD_ARGUMENT', `the records have a field ${k}, a column the generator writes: rename it in the data`);
    carry[k] = columnOf(v);
  }
  return { ...config, carry, cache_bytes_per_token: cacheBytesPerToken(modelConfig, variant) };
}
