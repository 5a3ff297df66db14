/**
 * Text generation in real tabs (`--actor generate`), on the test's small decoder-only model in the
 * Optimum layout (test/support/tinyLm.ts): wasm tabs generate, batched, token for token what the
 * test's own loop on onnxruntime-node generates (greedy and seeded sampling, prompts and chats); tabs
 * altering tokens in flight or cutting answers short get no row in; a software WebGPU tab generates
 * two prompts the same; and a standing pool serves a generation job beside an image job.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from '@playwright/test';
import type { RunSummary } from '../../coordinator/api/summary.ts';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { samplingParams } from '../../actors/generation/requests.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { ROUTES } from '../../shared/routes.ts';
import { CACHE_DIR, runCli, startHeadProcess } from '../support/coordinatorProcess.ts';
import { loopModel, referenceLoop, type LoopModel } from '../support/greedyLoop.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { CHAT_TEMPLATE, nearTieFree, TINY_LM, tinyLmVocab, writeTinyLm } from '../support/tinyLm.ts';
import { expect, jobArgv, openTab, serveArgv, test } from './fixtures.ts';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

type Row = Record<string, unknown>;

const WORDS = ['the', 'cat', 'rain', 'over', 'seven', 'blue', 'station', 'quiet', 'north', 'letters', 'a', 'Zebra'];

/** Records: prompts of assorted lengths and chats, some sampled with their own seed, each with fields to carry. */
function records(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => {
    const text = Array.from({ length: 1 + ((i * 7) % 9) }, (_, k) => WORDS[(i * 3 + k * 5) % WORDS.length]).join(' ');
    const base: Row = { id: `q${String(i).padStart(2, '0')}`, ticket: 1000 + i, lang: i % 2 ? 'en' : 'fr' };
    const sampled = i % 4 === 3 ? { sampling_params: { temperature: 0.9, top_k: 50, seed: 17 + i } } : {};
    return i % 3 === 1 ? { ...base, messages: [{ role: 'user', content: text }], ...sampled } : { ...base, prompt: text, ...sampled };
  });
}

async function writeRecords(file: string, rows: Row[]): Promise<string> {
  await fs.writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

/**
 * `n` records and what each one's row must be: the test's own loop on onnxruntime-node. Greedy records whose answer meets
 * the model's crafted near-tie are passed over ("token for token" is not defined there).
 */
async function dataset(dir: string, n: number, maxTokens: number): Promise<{ rows: Row[]; want: Map<string, number[]> }> {
  const candidates = records(4 * n);
  const want = await expected(dir, candidates, maxTokens);
  const rows = candidates.filter((r) => r.sampling_params !== undefined || nearTieFree(want.get(r.id as string)!)).slice(0, n);
  if (rows.length < n) throw new Error(`only ${rows.length} of ${4 * n} records meet no near-tie`);
  return { rows, want };
}

async function tokenizerOf(dir: string): Promise<Tokenizer> {
  return new Tokenizer(
    JSON.parse(await fs.readFile(path.join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(await fs.readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  );
}

/** What each record's row must be: the test's own loop on onnxruntime-node. */
async function expected(dir: string, rows: Row[], maxTokens: number): Promise<Map<string, number[]>> {
  const v = tinyLmVocab();
  const loop: LoopModel = await loopModel(
    await fs.readFile(path.join(dir, 'onnx', 'model.onnx')),
    TINY_LM.layers,
    TINY_LM.heads,
    TINY_LM.headDim,
    [v.endOfText, v.imEnd],
  );
  const tokenizer = await tokenizerOf(dir);
  const template = new Template(CHAT_TEMPLATE);
  const out = new Map<string, number[]>();
  for (const r of rows) {
    const text = typeof r.prompt === 'string' ? r.prompt : template.render({ messages: r.messages as never, add_generation_prompt: true });
    const params = samplingParams(r.id as string, r.sampling_params, { max_tokens: maxTokens });
    out.set(r.id as string, (await referenceLoop(loop, tokenizer.encode(text, { add_special_tokens: false }).ids, params)).tokens);
  }
  return out;
}

/** A tab whose answers are rewritten between the page and the coordinator by `lie` (well-formed rows). */
async function openLyingTab(browser: Browser, url: string, lie: (row: Row) => void): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.routeWebSocket(`**${ROUTES.socket}?*`, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (typeof message !== 'string') return server.send(message);
      const msg = JSON.parse(message) as { type: string; items?: { ok: boolean; row?: Row }[] };
      if (msg.type === 'result') for (const item of msg.items ?? []) if (item.row) lie(item.row);
      server.send(JSON.stringify(msg));
    });
    server.onMessage((message) => ws.send(message));
  });
  await page.goto(url);
  return page;
}

const MAX_TOKENS = 12;

test('wasm tabs generate, batched, what onnxruntime-node does; tabs altering tokens or cutting answers get no row in', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await writeTinyLm(path.join(tmp, 'tiny-lm'));
  const { rows, want } = await dataset(model, 24, MAX_TOKENS);
  const data = await writeRecords(path.join(tmp, 'prompts.jsonl'), rows);
  const out = path.join(tmp, 'out.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({
      actor: 'generate',
      model,
      actorConfig: JSON.stringify({ max_tokens: MAX_TOKENS }),
      data,
      out,
      ep: 'wasm',
      pool: 4,
      batchSize: 4,
      summaryJson: summary,
    }),
  );
  for (let i = 0; i < 2; i++) await openTab(browser, c.workerUrl);
  // Well-formed lies on every answer (the text made from the lying tokens, the counts right): a token changed, and an
  // answer cut to its first token with finish_reason stop (a one-token answer changed instead, so that every answer is a
  // lie: a liar on some answers only is what sampled verification bounds, not stops). Only the one-pass check can tell.
  const tokenizer = await tokenizerOf(model);
  const text = (tokens: number[]): string => tokenizer.decode(tokens, { skip_special_tokens: true });
  const vocab = tinyLmVocab();
  await openLyingTab(browser, c.workerUrl, (row) => {
    // A token of the answer's body changed; an answer that is only its end-of-sequence token gets the model's other
    // end token (still a proper stop, so only the token check can tell). The ending itself is never the token changed:
    // that lie is the other liar's, caught by a different check.
    const tokens = row.generated_tokens as number[];
    const body = row.finish_reason === 'stop' ? tokens.length - 1 : tokens.length;
    if (body === 0) tokens[0] = tokens[0] === vocab.imEnd ? vocab.endOfText : vocab.imEnd;
    else tokens[Math.floor(body / 2)] = (tokens[Math.floor(body / 2)]! + 1) % 200;
    row.generated_text = text(tokens);
  });
  await openLyingTab(browser, c.workerUrl, (row) => {
    const tokens = row.generated_tokens as number[];
    row.generated_tokens = tokens.length > 1 ? tokens.slice(0, 1) : [(tokens[0]! + 1) % 200];
    row.generated_text = text(row.generated_tokens as number[]);
    row.num_generated_tokens = 1;
    row.finish_reason = 'stop';
  });
  expect(await c.exited, c.stderr()).toBe(0);
  const written = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
  expect(written.map((r) => r.id).sort()).toEqual(rows.map((r) => r.id).sort());
  for (const r of written) {
    expect(r.generated_tokens, `${String(r.id)}: tokens vs onnxruntime-node`).toEqual(want.get(r.id as string));
    const record = rows.find((x) => x.id === r.id)!;
    expect([r.ticket, r.lang], `${String(r.id)}: carried fields`).toEqual([record.ticket, record.lang]);
    expect(r.num_generated_tokens).toBe((r.generated_tokens as number[]).length);
  }
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  const reasons = s.verify!.barredActors.map((b) => b.reason).join('\n');
  expect(s.verify!.barredActors, c.stderr()).toHaveLength(2);
  expect(reasons, c.stderr()).toMatch(
    new RegExp(
      [/step \d+: token \d+ .* where greedy gives \d+/, /step \d+: the seeded draw .* is outside token/, /step \d+: token \d+ is not among/]
        .map((r) => r.source)
        .join('|'),
    ),
  );
  expect(reasons, c.stderr()).toMatch(/finish_reason is stop, but the answer ends in no end-of-sequence token/);
  expect(s.tokens!.generated).toBe(written.reduce((n, r) => n + (r.num_generated_tokens as number), 0));
  expect(c.stdout()).toMatch(/tokens: \d+ generated \([\d.]+\/s\), \d+ of prompts/);
});

test('a software WebGPU tab generates two prompts token for token as onnxruntime-node does, the cache kept on the GPU', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await writeTinyLm(path.join(tmp, 'tiny-lm'));
  const { rows, want } = await dataset(model, 2, 6);
  const data = await writeRecords(path.join(tmp, 'prompts.jsonl'), rows);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(
    jobArgv({
      actor: 'generate',
      model,
      actorConfig: JSON.stringify({ max_tokens: 6 }),
      data,
      out,
      ep: 'webgpu',
      allowSoftwareGpu: true,
      pool: 1,
      batchSize: 2,
      verify: 1,
    }),
  );
  await openTab(browser, workerUrlWith(c.workerUrl, { ep: 'webgpu' }));
  expect(await c.exited, c.stderr()).toBe(0);
  expect(c.stdout() + c.stderr()).toMatch(/actor-1 \(webgpu/);
  for (const r of await readJsonl(out)) expect(r.generated_tokens, String(r.id)).toEqual(want.get(r.id as string));
});

async function readJsonl(file: string): Promise<Row[]> {
  return (await fs.readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

test('a standing pool serves a generation job beside an image job, each exact', async ({ browser, tmp }) => {
  test.setTimeout(5 * 60_000);
  const model = await writeTinyLm(path.join(tmp, 'tiny-lm'));
  const { rows, want } = await dataset(model, 16, MAX_TOKENS);
  const data = await writeRecords(path.join(tmp, 'prompts.jsonl'), rows);
  const tiny = (await ensureBuiltinModel(CACHE_DIR, 'tiny')).path;
  const images = path.join(tmp, 'images');
  const ref = await referencePredictions(tiny, await writeTestPngs(images, 16, 64, 64, 31));
  const head = await startHeadProcess(serveArgv({ state: path.join(tmp, 'state'), port: 0 }), { TABPOOL_WEB_BUILD: 'test' });
  try {
    for (let i = 0; i < 2; i++) await openTab(browser, head.workerUrl);
    const on = { on: head.origin, submitToken: head.submitToken, cacheDir: CACHE_DIR, ep: 'wasm', pool: '1..2', batchSize: 4 } as const;
    const genOut = path.join(tmp, 'gen.jsonl');
    const imgOut = path.join(tmp, 'img.jsonl');
    const [gen, img] = await Promise.all([
      runCli([
        'run',
        ...jobArgv({ ...on, actor: 'generate', model, actorConfig: JSON.stringify({ max_tokens: MAX_TOKENS }), data, out: genOut }),
      ]),
      runCli(['run', ...jobArgv({ ...on, model: tiny, data: images, out: imgOut })]),
    ]);
    expect(gen.code, `${gen.stderr}\nHEAD:\n${head.stdout()}\n${head.stderr()}`).toBe(0);
    expect(img.code, img.stderr).toBe(0);
    for (const r of await readJsonl(genOut)) expect(r.generated_tokens, String(r.id)).toEqual(want.get(r.id as string));
    const imageRows = await readRows(imgOut);
    expect(imageRows.map((r) => r.id).sort()).toEqual([...ref.keys()].sort());
    for (const r of imageRows) expect(r.class, r.id).toBe(ref.get(r.id)!.top1);
  } finally {
    head.kill('SIGKILL');
  }
});
