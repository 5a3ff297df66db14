/**
 * A record as a generation request, as Ray's `build_processor(preprocess=…)` makes one: `prompt` (a string
 * tokenized as it stands, no template, no special tokens added) or `messages` (a chat, rendered by the
 * model's own chat template with the generation prompt added), and optionally `sampling_params`
 * (`max_tokens`, `temperature`, `top_p`, `top_k`, `seed`, `stop`) over the job's defaults. Every other
 * field is carried into the row unchanged.
 */
import { seedOf, type SamplingParams } from '../../shared/generation/sampling.ts';

/** The job's defaults (--actor-config), in Ray's names. */
export interface SamplingDefaults {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  /** The job's seed: a row without its own is seeded by this and its id. */
  seed?: number;
  stop?: string[];
}

export const DEFAULT_MAX_TOKENS = 64;

/** The fields a record may hold that are not carried into the row. */
export const REQUEST_FIELDS = ['prompt', 'messages', 'sampling_params'] as const;

export type ChatMessage = { role: string; content: string };

export interface ParsedRecord {
  /** The text to tokenize, and whether it came from a chat (rendered by the template). */
  prompt: { text: string } | { messages: ChatMessage[] };
  params: SamplingParams;
}

function fail(id: string, what: string): never {
  throw new Error(`record ${id}: ${what}`);
}

function numberIn(id: string, name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    fail(id, `sampling_params.${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return v;
}

/** The sampling parameters of a row: its own over the job's, checked, with its seed decided. */
export function samplingParams(id: string, own: unknown, defaults: SamplingDefaults): SamplingParams {
  if (own !== undefined && own !== null && (typeof own !== 'object' || Array.isArray(own))) fail(id, 'sampling_params must be an object');
  const p = { ...defaults, ...((own as Record<string, unknown> | undefined) ?? {}) } as Record<string, unknown>;
  const known = new Set(['max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop']);
  for (const k of Object.keys((own as Record<string, unknown> | undefined) ?? {}))
    if (!known.has(k)) fail(id, `sampling_params.${k} is not one tabpool knows (max_tokens, temperature, top_p, top_k, seed, stop)`);
  const stop = p.stop ?? [];
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s.length > 0))
    fail(id, 'sampling_params.stop must be a list of non-empty strings');
  const ownSeed = (own as { seed?: unknown } | undefined)?.seed;
  return {
    maxTokens: numberIn(id, 'max_tokens', p.max_tokens ?? DEFAULT_MAX_TOKENS, 1, 1 << 20, true),
    temperature: numberIn(id, 'temperature', p.temperature ?? 0, 0, 100, false),
    topP: numberIn(id, 'top_p', p.top_p ?? 1, Number.MIN_VALUE, 1, false),
    topK: numberIn(id, 'top_k', p.top_k ?? 0, 0, 1 << 30, true),
    stop: stop as string[],
    seed:
      ownSeed !== undefined
        ? numberIn(id, 'seed', ownSeed, 0, 2 ** 32 - 1, true) >>> 0
        : seedOf(`${numberIn(id, 'seed', defaults.seed ?? 0, 0, 2 ** 32 - 1, true)}:${id}`),
  };
}

/** The record's prompt and sampling parameters; a record with neither prompt nor messages is refused, naming the fix. */
export function parseRecord(id: string, record: Record<string, unknown>, defaults: SamplingDefaults): ParsedRecord {
  const { prompt, messages } = record;
  if (prompt !== undefined && messages !== undefined) fail(id, 'has both prompt and messages: give one');
  let parsed: ParsedRecord['prompt'];
  if (typeof prompt === 'string') {
    if (prompt.length === 0) fail(id, 'prompt is empty');
    parsed = { text: prompt };
  } else if (Array.isArray(messages)) {
    if (messages.length === 0) fail(id, 'messages is empty');
    for (const [i, m] of messages.entries())
      if (
        typeof m !== 'object' ||
        m === null ||
        typeof (m as ChatMessage).role !== 'string' ||
        typeof (m as ChatMessage).content !== 'string'
      )
        fail(id, `messages[${i}] must be {"role": "…", "content": "…"}`);
    parsed = { messages: messages as ChatMessage[] };
  } else {
    fail(
      id,
      prompt !== undefined || messages !== undefined
        ? 'prompt must be a string, messages a list of {"role", "content"}'
        : 'has no prompt (a string) or messages (a chat): one of them is what the model reads',
    );
  }
  return { prompt: parsed, params: samplingParams(id, record.sampling_params, defaults) };
}

/** The record's fields that go into its row unchanged. */
export function carried(record: Record<string, unknown>, carry: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(carry.map((name) => [name, record[name] ?? null]));
}
