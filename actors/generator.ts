/**
 * The built-in generation actor (`--actor generate`, `Generator` in the Node API): a decoder-only
 * ONNX language model over records, several prompts a call, as Ray's `ray.data.llm` processor runs one
 * per actor. It is written on the actor API, like a user's actor, and runs the same way: in a tab on
 * onnxruntime-web (WebGPU or wasm), in the coordinator on onnxruntime-node, where `verify` checks a
 * tab's answers by teacher forcing (actors/generation/teacherForcing.ts) instead of generating again.
 *
 * Rows: every field of the record but prompt, messages and sampling_params, unchanged, then
 * `generated_text` (special tokens skipped, cut before a stop string), `generated_tokens`,
 * `num_input_tokens`, `num_generated_tokens` and `finish_reason` (`stop` or `length`).
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type * as Ort from 'onnxruntime-common';
import type { ActorContext, ActorRow, ColumnType, MemoryDeclaration, OutputDeclaration, RecordBatch } from '../shared/actorApi.ts';
import type { SamplingParams } from '../shared/generation/sampling.ts';
import { generate, type DecodeSetup, type GenerationRequest } from './generation/decodeLoop.ts';
import { cacheLayout, endIds, lmFiles, type CacheLayout } from './generation/modelFiles.ts';
import { carried, parseRecord, type SamplingDefaults } from './generation/requests.ts';
import { endingProblem, tokensProblem } from './generation/teacherForcing.ts';

export interface GeneratorConfig extends SamplingDefaults {
  /** `onnx/<variant>.onnx` (default `model`). */
  variant?: string;
  /** Prompt tokens a row may have at most (the memory estimate counts them; default 512). */
  max_prompt_tokens?: number;
  /** Set by tabpool from the dataset's first record: the fields carried into each row, with their column types. */
  carry?: Record<string, ColumnType>;
  /** Set by tabpool from the model's config: the cache's bytes a token, for the memory estimate. */
  cache_bytes_per_token?: number;
}

export const GENERATED_COLUMNS = {
  generated_text: 'string',
  generated_tokens: 'json',
  num_input_tokens: 'int32',
  num_generated_tokens: 'int32',
  finish_reason: 'string',
} as const satisfies OutputDeclaration;

export default class Generator {
  static readonly inputs = 'record';

  static outputs(config: GeneratorConfig | null): OutputDeclaration {
    return { ...(config?.carry ?? {}), ...GENERATED_COLUMNS };
  }

  /** A row's cache at its longest (max_prompt_tokens + max_tokens) is what each input of a batch needs. */
  static memory(config: GeneratorConfig | null): MemoryDeclaration {
    const tokens = (config?.max_prompt_tokens ?? 512) + (config?.max_tokens ?? 64);
    return { perItemBytes: tokens * (config?.cache_bytes_per_token ?? 0) + 64 * 1024 };
  }

  static check(row: ActorRow): string | null {
    const tokens = row.generated_tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && (t as number) >= 0))
      return 'generated_tokens must be a list of token ids';
    if (row.num_generated_tokens !== tokens.length)
      return `num_generated_tokens ${String(row.num_generated_tokens)} for ${tokens.length} tokens`;
    if (row.finish_reason !== 'stop' && row.finish_reason !== 'length') return `finish_reason ${JSON.stringify(row.finish_reason)}`;
    return null;
  }

  private ort!: typeof Ort;
  private session!: Ort.InferenceSession;
  private layout!: CacheLayout;
  private tokenizer!: Tokenizer;
  private template: Template | null = null;
  private config!: GeneratorConfig;
  private ends!: Set<number>;
  private padId = 0;
  private specials: Record<string, unknown> = {};

  async init(ctx: ActorContext<GeneratorConfig | null>): Promise<void> {
    this.ort = ctx.ort;
    this.config = ctx.config ?? {};
    const files = lmFiles(ctx.models, this.config.variant ?? 'model');
    this.tokenizer = new Tokenizer(files.tokenizer, files.tokenizerConfig);
    const chat = files.tokenizerConfig.chat_template;
    if (typeof chat === 'string') this.template = new Template(chat);
    const tokenId = (key: string): number | undefined => {
      const t = files.tokenizerConfig[key];
      const content = typeof t === 'string' ? t : typeof t === 'object' && t !== null ? (t as { content?: unknown }).content : undefined;
      return typeof content === 'string' ? this.tokenizer.token_to_id(content) : undefined;
    };
    this.specials = { bos_token: files.tokenizerConfig.bos_token ?? '', eos_token: files.tokenizerConfig.eos_token ?? '' };
    this.ends = new Set(endIds(files.config, tokenId('eos_token')));
    const pad = files.config.pad_token_id;
    this.padId = tokenId('pad_token') ?? (typeof pad === 'number' ? pad : ([...this.ends][0] ?? 0));
    const options: Ort.InferenceSession.SessionOptions = { ...ctx.sessionOptions };
    if (files.externalData.length > 0) options.externalData = files.externalData;
    // Probe the graph's names first where the cache should stay on the GPU: each present.* output a GPU buffer.
    this.session = await ctx.ort.InferenceSession.create(files.graph, options);
    this.layout = cacheLayout(this.session, files.config);
    if (ctx.ep === 'webgpu') {
      await this.session.release();
      const location = Object.fromEntries(this.layout.entries.map((e) => [e.output, 'gpu-buffer' as const]));
      this.session = await ctx.ort.InferenceSession.create(files.graph, { ...options, preferredOutputLocation: location });
    }
  }

  private promptIds(id: string, record: Record<string, unknown>): { ids: number[]; params: SamplingParams } {
    const parsed = parseRecord(id, record, this.config);
    let text: string;
    if ('text' in parsed.prompt) text = parsed.prompt.text;
    else {
      if (!this.template) throw new Error(`record ${id}: has messages, but the model's tokenizer_config.json has no chat_template`);
      text = this.template.render({ messages: parsed.prompt.messages, add_generation_prompt: true, ...this.specials });
    }
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (ids.length === 0) throw new Error(`record ${id}: the prompt is no tokens`);
    return { ids, params: parsed.params };
  }

  /** The text of `tokens`: special tokens skipped, cut before the first stop string. */
  private text(tokens: number[], params: SamplingParams): { text: string; stopped: boolean } {
    const full = this.tokenizer.decode(tokens, { skip_special_tokens: true });
    let cut = -1;
    for (const s of params.stop) {
      const at = full.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    return cut < 0 ? { text: full, stopped: false } : { text: full.slice(0, cut), stopped: true };
  }

  private setup(): DecodeSetup {
    return {
      ort: this.ort,
      session: this.session,
      layout: this.layout,
      ends: this.ends,
      padId: this.padId,
      stopped: (tokens, params) => params.stop.length > 0 && this.text(tokens, params).stopped,
    };
  }

  async call(batch: RecordBatch): Promise<ActorRow[]> {
    const requests: (GenerationRequest & { id: string })[] = batch.records.map((r, i) => {
      const { ids, params } = this.promptIds(batch.ids[i]!, r);
      return { id: batch.ids[i]!, prompt: ids, params };
    });
    const results = await generate(this.setup(), requests);
    const carry = Object.keys(this.config.carry ?? {});
    return results.map((res, i) => ({
      ...carried(batch.records[i]!, carry),
      generated_text: this.text(res.tokens, requests[i]!.params).text,
      generated_tokens: res.tokens,
      num_input_tokens: requests[i]!.prompt.length,
      num_generated_tokens: res.tokens.length,
      finish_reason: res.finish,
    }));
  }

  /** Tabs' rows checked in one pass each (the coordinator's copy): what is wrong with each, or null. */
  async verify(batch: RecordBatch, rows: ActorRow[]): Promise<(string | null)[]> {
    const carry = Object.keys(this.config.carry ?? {});
    const verdicts: (string | null)[] = [];
    for (const [i, row] of rows.entries()) {
      const id = batch.ids[i]!;
      const { ids, params } = this.promptIds(id, batch.records[i]!);
      const tokens = row.generated_tokens as number[];
      const expected = carried(batch.records[i]!, carry);
      const wrongField = carry.find((c) => JSON.stringify(row[c]) !== JSON.stringify(expected[c]));
      const answer = { prompt: ids, tokens, params };
      verdicts.push(
        wrongField !== undefined
          ? `${wrongField} is not the record's own`
          : row.num_input_tokens !== ids.length
            ? `num_input_tokens ${String(row.num_input_tokens)}, the prompt is ${ids.length} tokens`
            : row.generated_text !== this.text(tokens, params).text
              ? 'generated_text is not the text of generated_tokens'
              : (endingProblem(this.setup(), answer, row.finish_reason) ?? (await tokensProblem(this.setup(), answer))),
      );
    }
    return verdicts;
  }
}
