/**
 * The spine, end to end: a real coordinator, real tabs in headless Chromium, the real model; each
 * prediction checked against onnxruntime-node on identically preprocessed tensors.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from '@playwright/test';
import { buildResNet, ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { pillowPredictions } from '../support/pillowReference.ts';
import { maxRelativeDifference, readRows, referencePredictions, type ReferencePrediction } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, status, test } from './fixtures.ts';

/** Opens `count` tabs, each in its own browser context (its own host), on the worker URL. */
async function openTabs(browser: Browser, url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await openTab(browser, url);
}

async function expectMatchesReference(
  modelPath: string,
  files: { id: string; path: string }[],
  out: string,
  reference?: Map<string, ReferencePrediction>,
): Promise<void> {
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  reference ??= await referencePredictions(modelPath, files);
  for (const row of rows) {
    const ref = reference.get(row.id)!;
    expect(row.error, `${row.id} has an error row`).toBeNull();
    expect(row.class, `${row.id}: top-1`).toBe(ref.top1);
    expect(row.logits, `${row.id}: logits returned`).toHaveLength(ref.logits.length);
    expect(maxRelativeDifference(row.logits!, ref.logits), `${row.id}: logits vs onnxruntime-node`).toBeLessThan(1e-3);
  }
}

// Also the pool that once never started (issue 16): two actors this slow (seconds an image on a
// software GPU) were given no batch under --batch-size auto, the default used here.
test('two WebGPU tabs (SwiftShader), seconds an image each, start at once and predict what onnxruntime-node predicts', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 4, 224, 224, 11);
  const out = path.join(tmp, 'out.jsonl');
  const coordinator = await start(
    jobArgv({ data: path.join(tmp, 'data'), out, ep: 'webgpu', allowSoftwareGpu: true, pool: 2, logits: true, quiet: true }),
  );
  await openTabs(browser, coordinator.workerUrl, 2);
  expect(await coordinator.exited, coordinator.stderr()).toBe(0);
  expect(coordinator.stdout()).toMatch(/actor-1 \(webgpu/);
  expect(coordinator.stdout()).toMatch(/actor-2 \(webgpu/);
  await expectMatchesReference(model.path, files, out);
});

/** Sizes that need resampling every way: down, up, odd aspect ratios, tiny, wider than tall and taller than wide. */
const AWKWARD = [
  [37, 211],
  [300, 64],
  [97, 97],
  [512, 256],
  [224, 224],
  [1000, 50],
  [255, 257],
  [64, 400],
] as const;

test("two wasm tabs, one preparing on 3 workers, give onnxruntime-node's logits on Pillow's tensors for 64 awkward images", async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files: { id: string; path: string }[] = [];
  for (const [k, [w, h]] of AWKWARD.entries()) {
    const sub = `${w}x${h}`;
    for (const f of await writeTestPngs(path.join(tmp, 'data', sub), 8, w, h, 23 + k)) files.push({ id: `${sub}/${f.id}`, path: f.path });
  }
  const out = path.join(tmp, 'out.jsonl');
  const coordinator = await start(
    jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 2, batchSize: 8, logits: true, quiet: true }),
  );
  await openTab(browser, coordinator.workerUrl);
  // Batches split across three preprocessing workers must pack into the same tensors as one worker's.
  const split = await openTab(browser, workerUrlWith(coordinator.workerUrl, { prepare: 3 }));
  expect(await coordinator.exited, coordinator.stderr()).toBe(0);
  // The reference is Pillow's own resize and crop (torchvision's recipe), not this project's code.
  await expectMatchesReference(model.path, files, out, await pillowPredictions(model.path, files));
  await expect(split.locator('[data-field="feed"]')).toContainText('3 preprocessing worker(s)');
});

test('a tab on a host of 2 CPUs runs 2 wasm threads alone; a second on that host makes each run 1; rows equal onnxruntime-node', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  // Enough work that the job is still running when the second tab has joined and the first has started afresh.
  const files = await writeTestPngs(path.join(tmp, 'data'), 320, 224, 224, 41);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', pool: '1..2', batchSize: 4, logits: true, quiet: true }));
  // One browser profile is one host; the URL says it has 2 CPUs.
  const host = await browser.newContext();
  const url = workerUrlWith(c.workerUrl, { cpus: 2 });
  const first = await openTab(host, url);
  const threads = async (): Promise<unknown[]> => (await status(c)).actors.map((a) => (a.imagesDone > 0 ? a.threads : null));
  await expect.poll(threads, { timeout: 60_000 }).toEqual([{ running: 2, planned: 2 }]);
  await expect(first.locator('[data-field="threads"]')).toHaveText('2');
  const second = await openTab(host, url);
  // The first hears its new share and starts its actor afresh with 1 thread between batches; the second loads with 1.
  await expect.poll(threads, { timeout: 60_000 }).toEqual([
    { running: 1, planned: 1 },
    { running: 1, planned: 1 },
  ]);
  await expect(first.locator('[data-field="threads"]')).toHaveText('1');
  await expect(second.locator('[data-field="threads"]')).toHaveText('1');
  expect(await c.exited, c.stderr()).toBe(0);
  await expectMatchesReference(model.path, files, out);
});

test('a model with other tensor names and BatchNormalization nodes loads unchanged', async ({ browser, tmp, coordinator: start }) => {
  const modelPath = path.join(tmp, 'zoo-style.onnx');
  await fs.writeFile(
    modelPath,
    buildResNet({ variant: 'resnet18', inputName: 'data', outputName: 'resnetv15_dense0_fwd', keepBatchNorm: true, opset: 11 }),
  );
  const files = await writeTestPngs(path.join(tmp, 'data'), 12, 224, 224, 31);
  const out = path.join(tmp, 'out.jsonl');
  const coordinator = await start(
    jobArgv({ model: modelPath, data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 2, batchSize: 4, logits: true, quiet: true }),
  );
  await openTabs(browser, coordinator.workerUrl, 2);
  expect(await coordinator.exited, coordinator.stderr()).toBe(0);
  await expectMatchesReference(modelPath, files, out);
});

test('--launch 2 runs the sample dataset with the test-sized model, one row per image', async ({ tmp, coordinator: start }) => {
  const out = path.join(tmp, 'out.jsonl');
  const coordinator = await start(jobArgv({ model: 'resnet18-tiny', out, launch: 2, ep: 'wasm', quiet: true }));
  expect(await coordinator.exited, coordinator.stderr()).toBe(0);
  const rows = await readRows(out);
  const ids = new Set(rows.map((r) => r.id));
  expect(ids.size).toBe(rows.length);
  expect(rows.length).toBeGreaterThanOrEqual(256);
  expect(rows.filter((r) => r.error !== null)).toEqual([]);
});
