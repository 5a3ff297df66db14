/**
 * Your own actor in real tabs: the embeddings example on wasm (with a tab whose vectors are altered
 * in flight, caught by verification) and on WebGPU (the software adapter, a few images), the
 * records example with the README's one command, each checked against onnxruntime-node on tensors
 * the test makes itself; and the built-in classifier, now an actor on the same API, writing exactly
 * the rows it wrote before (golden files made by the last version before the actor API).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from '@playwright/test';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { ensureScorer } from '../../coordinator/builtin/scorerBuilder.ts';
import { sampleRecordsText } from '../../coordinator/builtin/sampleRecords.ts';
import type { RunSummary } from '../../coordinator/api/summary.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { ROUTES } from '../../shared/routes.ts';
import { CACHE_DIR, ROOT } from '../support/coordinatorProcess.ts';
import { referenceFeatures, referenceScores, relativeL2 } from '../support/featureReference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, test, type JobFlags } from './fixtures.ts';

const EMBED = path.join(ROOT, 'examples', 'embed.ts');
const GOLDEN = path.join(ROOT, 'test', 'fixtures', 'golden');

async function jsonLines(file: string): Promise<Record<string, unknown>[]> {
  return (await fs.readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A tab whose embeddings are scaled by 1.01 between the page and the coordinator (well-formed, plausible). */
async function openAlteringTab(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.routeWebSocket(`**${ROUTES.socket}?*`, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (typeof message !== 'string') return server.send(message);
      const msg = JSON.parse(message) as { type: string; items?: { ok: boolean; row?: { embedding: number[] } }[] };
      if (msg.type === 'result')
        for (const item of msg.items ?? []) if (item.row) item.row.embedding = item.row.embedding.map((x) => x * 1.01);
      server.send(JSON.stringify(msg));
    });
    server.onMessage((message) => ws.send(message));
  });
  await page.goto(url);
  return page;
}

test("embeddings in wasm tabs equal onnxruntime-node's; a tab altering them in flight is caught, none of its rows written", async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny', true);
  const files = await writeTestPngs(path.join(tmp, 'data'), 24, 64, 64, 201);
  const reference = await referenceFeatures(model.path, files, 64);
  const out = path.join(tmp, 'emb.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({
      actor: EMBED,
      model: 'resnet18-tiny-features',
      actorConfig: '{"dim":64}',
      data: path.join(tmp, 'data'),
      out,
      ep: 'wasm',
      pool: 3,
      batchSize: 4,
      summaryJson: summary,
    }),
  );
  await openAlteringTab(browser, c.workerUrl);
  for (let i = 0; i < 2; i++) await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const rows = await jsonLines(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  for (const r of rows)
    expect(relativeL2(r.embedding as number[], reference.get(r.id as string)!), `${String(r.id)} vs onnxruntime-node`).toBeLessThan(1e-4);
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  expect(s.verify!.barredActors, c.stderr()).toHaveLength(1);
  expect(s.verify!.barredActors[0]!.reason).toMatch(/embedding is .* from the reference's \(L2\)/);
});

test("the embeddings actor on a software WebGPU adapter: vectors equal onnxruntime-node's", async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny', true);
  const files = await writeTestPngs(path.join(tmp, 'data'), 4, 64, 64, 203);
  const reference = await referenceFeatures(model.path, files, 64);
  const out = path.join(tmp, 'emb.jsonl');
  const c = await start(
    jobArgv({
      actor: EMBED,
      model: 'resnet18-tiny-features',
      actorConfig: '{"dim":64}',
      data: path.join(tmp, 'data'),
      out,
      ep: 'webgpu',
      allowSoftwareGpu: true,
      pool: 1,
      verify: 1,
    }),
  );
  await openTab(browser, workerUrlWith(c.workerUrl, { ep: 'webgpu' }));
  expect(await c.exited, c.stderr()).toBe(0);
  expect(c.stdout()).toMatch(/actor-1 \(webgpu/);
  const rows = await jsonLines(out);
  expect(rows).toHaveLength(4);
  for (const r of rows)
    expect(relativeL2(r.embedding as number[], reference.get(r.id as string)!), `${String(r.id)} vs onnxruntime-node`).toBeLessThan(1e-4);
});

test("the records example with the README's command (sample records, --launch 2): scores equal onnxruntime-node's", async ({
  tmp,
  coordinator: start,
}) => {
  const out = path.join(tmp, 'scores.jsonl');
  const c = await start(jobArgv({ actor: path.join(ROOT, 'examples', 'score.ts'), model: 'scorer', out, launch: 2, ep: 'wasm' }));
  expect(await c.exited, c.stderr()).toBe(0);
  const records = sampleRecordsText()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; features: number[] });
  const scores = await referenceScores((await ensureScorer(CACHE_DIR)).path, records);
  const rows = await jsonLines(out);
  expect(rows).toHaveLength(records.length);
  for (const r of rows) expect(Math.abs((r.score as number) - scores.get(r.id as string)!), String(r.id)).toBeLessThan(1e-5);
  expect(c.stdout()).toMatch(/items\/s|records/);
});

test('the built-in classifier as an actor writes its old rows: JSONL and CSV byte for byte, --logits value for value', async ({
  tmp,
  coordinator: start,
}) => {
  await writeTestPngs(path.join(tmp, 'data'), 12, 64, 64, 1234);
  const run = async (out: string, flags: JobFlags = {}): Promise<void> => {
    const c = await start(
      jobArgv({
        model: 'resnet18-tiny',
        data: path.join(tmp, 'data'),
        out,
        launch: 1,
        ep: 'wasm',
        pool: 1,
        batchSize: 1,
        topK: 3,
        verify: 0,
        ...flags,
      }),
    );
    expect(await c.exited, c.stderr()).toBe(0);
  };
  const sorted = async (file: string, header = false): Promise<string[]> => {
    const lines = (await fs.readFile(file, 'utf8')).trim().split('\n');
    return header ? [lines[0]!, ...lines.slice(1).sort()] : lines.sort();
  };
  await run(path.join(tmp, 'new.jsonl'));
  expect(await sorted(path.join(tmp, 'new.jsonl'))).toEqual(await sorted(path.join(GOLDEN, 'classifier.jsonl')));
  await run(path.join(tmp, 'new.csv'));
  expect(await sorted(path.join(tmp, 'new.csv'), true)).toEqual(await sorted(path.join(GOLDEN, 'classifier.csv'), true));
  await run(path.join(tmp, 'logits.jsonl'), { logits: true });
  const byId = (rows: Record<string, unknown>[]) => new Map(rows.map((r) => [r.id, r]));
  // The same values; only the key order moved (logits now before error, as every declared column).
  expect(byId(await jsonLines(path.join(tmp, 'logits.jsonl')))).toEqual(
    byId(await jsonLines(path.join(GOLDEN, 'classifier-logits.jsonl'))),
  );
});
