/**
 * The built-in generation actor (actors/generator.ts) on onnxruntime-node, over the test's small
 * decoder-only model (test/support/tinyLm.ts): what it generates against the test's own loop (no
 * cache, one prompt at a time), batched against one at a time, seeded sampling, how answers end, the
 * columns it writes, and its one-pass check of answers (what verification asks of it).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Generator, { type GeneratorConfig } from '../../../actors/generator.ts';
import { nodeActor, releaseNodeActor } from '../../../coordinator/actor/nodeActor.ts';
import type { Actor, ActorClass, ActorRow, RecordBatch } from '../../../shared/actorApi.ts';
import { argmax, type SamplingParams } from '../../../shared/generation/sampling.ts';
import { samplingParams } from '../../../actors/generation/requests.ts';
import { loopModel, nextLogits, referenceLoop, type LoopModel } from '../../support/greedyLoop.ts';
import { CRAFTED, nearTieFree, TINY_LM, tinyLmVocab, writeTinyLm } from '../../support/tinyLm.ts';
import { Tokenizer } from '@huggingface/tokenizers';

const PROMPTS = [
  'The cat sat on the mat',
  'Hello',
  'Once upon a time, there was a small',
  'a',
  'Numbers: 1, 2, 3, 4, 5,',
  'Weather report for the week ahead: rain on',
  'the the the',
  'Zebra',
];

let dir: string;
let loop: LoopModel;
let tokenizer: Tokenizer;
const actors: Actor[] = [];
const vocab = tinyLmVocab();

before(async () => {
  dir = await writeTinyLm(await mkdtemp(path.join(os.tmpdir(), 'tabpool-lm-')));
  const { layers, heads, headDim } = TINY_LM;
  loop = await loopModel(await readFile(path.join(dir, 'onnx', 'model.onnx')), layers, heads, headDim, [vocab.endOfText, vocab.imEnd]);
  tokenizer = new Tokenizer(
    JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  );
});

after(async () => {
  for (const a of actors) await releaseNodeActor(a);
});

async function generator(config: GeneratorConfig = {}): Promise<Actor> {
  const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];
  const actor = await nodeActor(Generator as unknown as ActorClass, {
    files: names.map((name) => ({ name, path: path.join(dir, name) })),
    config,
    role: 'tab',
  });
  actors.push(actor);
  return actor;
}

const batchOf = (records: Record<string, unknown>[]): RecordBatch => ({
  ids: records.map((_, i) => `r${i}`),
  size: records.length,
  records,
});
const encode = (text: string): number[] => tokenizer.encode(text, { add_special_tokens: false }).ids;
const greedy = (maxTokens: number): SamplingParams => ({ maxTokens, temperature: 0, topK: 0, topP: 1, stop: [], seed: 0 });

test('greedy generation equals the test’s own loop token for token, and a batch of prompts equals each prompt alone', async () => {
  const actor = await generator({ max_tokens: 12 });
  const batched = await actor.call(batchOf(PROMPTS.map((prompt) => ({ prompt }))));
  let compared = 0;
  for (const [i, prompt] of PROMPTS.entries()) {
    const own = await referenceLoop(loop, encode(prompt), greedy(12));
    if (!nearTieFree(own.tokens)) continue;
    compared++;
    const [alone] = await actor.call(batchOf([{ prompt }]));
    assert.deepEqual(batched[i]!.generated_tokens, own.tokens, `batched, prompt ${i}`);
    assert.deepEqual(alone!.generated_tokens, own.tokens, `alone, prompt ${i}`);
    assert.equal(batched[i]!.finish_reason, own.finish);
    assert.equal(batched[i]!.num_input_tokens, encode(prompt).length);
    assert.equal(batched[i]!.generated_text, tokenizer.decode(own.tokens, { skip_special_tokens: true }));
  }
  assert.ok(compared >= 5, `${compared} prompts met no near-tie`);
  const reasons = new Set(batched.map((r) => r.finish_reason));
  assert.deepEqual([...reasons].sort(), ['length', 'stop'], 'the prompts end both ways (the crafted end token is reached)');
});

test('a chat is rendered by the model’s own template with the generation prompt; a prompt is tokenized as it stands', async () => {
  const actor = await generator({ max_tokens: 6 });
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Name a colour.' },
  ];
  const [chat, plain] = await actor.call(batchOf([{ messages }, { prompt: 'Name a colour.' }]));
  const rendered = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n';
  assert.equal(chat!.num_input_tokens, encode(rendered).length);
  assert.deepEqual(chat!.generated_tokens, (await referenceLoop(loop, encode(rendered), greedy(6))).tokens);
  assert.equal(plain!.num_input_tokens, encode('Name a colour.').length);
});

test('seeded sampling equals the same seeded loop in Node; a row’s own seed is its own, else the job’s seed with its id', async () => {
  const actor = await generator({ max_tokens: 10, temperature: 0.8, top_k: 40, top_p: 0.9, seed: 7 });
  const records = PROMPTS.slice(0, 4).map((prompt, i) => (i === 0 ? { prompt, sampling_params: { seed: 1234 } } : { prompt }));
  const rows = await actor.call(batchOf(records));
  for (const [i, r] of records.entries()) {
    const params = samplingParams(`r${i}`, r.sampling_params, { max_tokens: 10, temperature: 0.8, top_k: 40, top_p: 0.9, seed: 7 });
    assert.equal(params.seed, i === 0 ? 1234 : params.seed);
    const own = await referenceLoop(loop, encode(r.prompt), params);
    assert.deepEqual(rows[i]!.generated_tokens, own.tokens, `row ${i}`);
  }
  const again = await actor.call(batchOf(records));
  assert.deepEqual(
    again.map((r) => r.generated_tokens),
    rows.map((r) => r.generated_tokens),
    'the same seeds, the same tokens',
  );
  const greedyRows = await (await generator({ max_tokens: 10 })).call(batchOf(records));
  assert.ok(
    rows.some((r, i) => JSON.stringify(r.generated_tokens) !== JSON.stringify(greedyRows[i]!.generated_tokens)),
    'sampling chose otherwise than greedy somewhere',
  );
});

test('max_tokens ends an answer with length; a stop string ends it with stop, the text cut before it', async () => {
  const actor = await generator({ max_tokens: 3 });
  const [short] = await actor.call(batchOf([{ prompt: 'Zebra', sampling_params: { max_tokens: 2 } }]));
  assert.equal(short!.num_generated_tokens, (short!.generated_tokens as number[]).length);
  assert.ok((short!.generated_tokens as number[]).length <= 2);
  const long = await (await generator({ max_tokens: 24 })).call(batchOf([{ prompt: 'Once upon a time' }]));
  const text = tokenizer.decode(long[0]!.generated_tokens as number[], { skip_special_tokens: true });
  const stop = text.slice(3, 5);
  assert.ok(stop.length === 2, `a stop string from the text itself (${JSON.stringify(text)})`);
  const [stopped] = await actor.call(batchOf([{ prompt: 'Once upon a time', sampling_params: { max_tokens: 24, stop: [stop] } }]));
  assert.equal(stopped!.finish_reason, 'stop');
  assert.equal(stopped!.generated_text, text.slice(0, text.indexOf(stop)));
});

test('every other field of a record is carried into its row unchanged; a record with no prompt is refused, naming the fix', async () => {
  const actor = await generator({ max_tokens: 2, carry: { ticket: 'float64', meta: 'json', lang: 'string' } });
  const [row] = await actor.call(batchOf([{ prompt: 'Hi', ticket: 42, meta: { a: [1, 2] }, lang: 'en' }]));
  assert.equal(row!.ticket, 42);
  assert.deepEqual(row!.meta, { a: [1, 2] });
  assert.equal(row!.lang, 'en');
  await assert.rejects(async () => actor.call(batchOf([{ text: 'Hi' }])), /record r0: has no prompt \(a string\) or messages/);
  await assert.rejects(
    async () => actor.call(batchOf([{ prompt: 'Hi', sampling_params: { temprature: 1 } }])),
    /sampling_params\.temprature is not one/,
  );
});

/** An honest answer of the generator, and its record. */
async function answer(prompt: string, maxTokens: number): Promise<{ record: Record<string, unknown>; row: ActorRow }> {
  const record = { prompt, sampling_params: { max_tokens: maxTokens } };
  const [row] = await (await generator()).call(batchOf([record]));
  return { record, row: row! };
}

test('the one-pass check passes an honest answer; it catches an altered token, a swapped answer, a cut, a lying finish', async () => {
  const checker = await generator();
  const check = async (record: Record<string, unknown>, row: ActorRow): Promise<string | null> =>
    (await checker.verify!(batchOf([record]), [row]))[0]!;
  const a = await answer(PROMPTS[2]!, 12);
  const b = await answer(PROMPTS[5]!, 12);
  assert.equal(await check(a.record, a.row), null);
  assert.equal(await check(b.record, b.row), null);
  const tokens = a.row.generated_tokens as number[];
  const altered = [...tokens];
  altered[Math.min(2, tokens.length - 1)] = (altered[Math.min(2, tokens.length - 1)]! + 5) % vocab.size;
  const text = (t: number[]) => tokenizer.decode(t, { skip_special_tokens: true });
  assert.match(
    (await check(a.record, { ...a.row, generated_tokens: altered, generated_text: text(altered) })) ?? '',
    /step \d+: token \d+ .* where greedy gives/,
  );
  assert.match((await check(a.record, { ...b.row })) ?? '', /num_input_tokens|step 0/);
  const cut = tokens.slice(0, Math.max(1, tokens.length - 2));
  assert.match(
    (await check(a.record, {
      ...a.row,
      generated_tokens: cut,
      generated_text: text(cut),
      num_generated_tokens: cut.length,
      finish_reason: 'stop',
    })) ?? '',
    /finish_reason is stop, but the answer ends in no end-of-sequence token/,
  );
  assert.match((await check(a.record, { ...a.row, generated_text: 'something else' })) ?? '', /generated_text is not the text/);
});

test('a near-tie (two tokens whose logits are a millionth apart) chosen either way passes the check', async () => {
  const checker = await generator();
  // Find a step where greedy picks one of the twins: the other is the near-tie a different EP may pick.
  const words = ['the', 'cat', 'rain', 'over', 'seven', 'blue', 'station', 'quiet', 'north', 'letters', 'a', 'Zebra', 'Hello'];
  const prompts = Array.from({ length: 60 }, (_, i) =>
    Array.from({ length: 1 + (i % 6) }, (_, k) => words[(i * 3 + k * 5) % words.length]).join(' '),
  );
  for (const prompt of prompts) {
    const ids = encode(prompt);
    const own = await referenceLoop(loop, ids, greedy(16));
    const at = own.tokens.findIndex((t) => t === CRAFTED.twin || t === CRAFTED.twinOf);
    if (at < 0) continue;
    const logits = await nextLogits(loop, [...ids, ...own.tokens.slice(0, at)]);
    assert.ok(Math.abs(logits[CRAFTED.twin]! - logits[CRAFTED.twinOf]!) < 1e-4, 'the twins are a near-tie');
    assert.ok([CRAFTED.twin, CRAFTED.twinOf].includes(argmax(logits)));
    const other = own.tokens[at] === CRAFTED.twin ? CRAFTED.twinOf : CRAFTED.twin;
    const prefix = [...own.tokens.slice(0, at), other];
    const rest =
      prefix.length < 16 && !loop.ends.has(other) ? await referenceLoop(loop, [...ids, ...prefix], greedy(16 - prefix.length)) : null;
    const tokens = [...prefix, ...(rest?.tokens ?? [])];
    const finish = rest ? rest.finish : loop.ends.has(other) ? 'stop' : 'length';
    const row = {
      generated_text: tokenizer.decode(tokens, { skip_special_tokens: true }),
      generated_tokens: tokens,
      num_input_tokens: ids.length,
      num_generated_tokens: tokens.length,
      finish_reason: finish,
    };
    assert.equal((await checker.verify!(batchOf([{ prompt, sampling_params: { max_tokens: 16 } }]), [row]))[0], null);
    return;
  }
  assert.fail('no prompt reached a twin: the test model no longer crafts a near-tie the prompts meet');
});
