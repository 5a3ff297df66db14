/**
 * Nothing lost: bad inputs become error rows while the job goes on, and actors that die, crash,
 * freeze, lose their GPU or their socket give their batches back, which run elsewhere.
 */
import path from 'node:path';
import type { Page } from '@playwright/test';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { writeMixedFolder } from '../support/badImages.ts';
import { CACHE_DIR, type RunningCoordinator } from '../support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openRoutedTab, openTab, status, test } from './fixtures.ts';

async function waitForRows(c: RunningCoordinator, atLeast: number): Promise<void> {
  await expect.poll(async () => (await status(c)).progress.done, { timeout: 120_000 }).toBeGreaterThanOrEqual(atLeast);
}

/** Each input exactly once, and top-1 equal to onnxruntime-node's. */
async function expectExact(out: string, modelPath: string, files: { id: string; path: string }[]): Promise<void> {
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  const ref = await referencePredictions(modelPath, files);
  const wrong = rows.filter((r) => r.error !== null || r.class !== ref.get(r.id)!.top1).map((r) => r.id);
  expect(wrong).toEqual([]);
}

test('a folder of good and bad files: every good image predicted, every bad one an error row with its code, exit 3', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const { good, bad } = await writeMixedFolder(path.join(tmp, 'data'));
  const out = path.join(tmp, 'out.jsonl');
  const coordinator = await start(jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', batchSize: 4, quiet: true }));
  await openTab(browser, coordinator.workerUrl);
  expect(await coordinator.exited, coordinator.stderr()).toBe(3);
  const rows = await readRows(out);
  expect(rows).toHaveLength(good.length + bad.length);
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const b of bad) {
    expect(byId.get(b.id)?.error?.code, `${b.id}`).toBe(b.code);
    expect(byId.get(b.id)?.error?.message, `${b.id}: message names the input`).toContain(b.id);
    expect(byId.get(b.id)).not.toHaveProperty('class');
  }
  const ref = await referencePredictions(model.path, good);
  for (const g of good) {
    const row = byId.get(g.id)!;
    expect(row.error, `${g.id} decodes`).toBeNull();
    // JPEG decoders differ by a few levels (libjpeg-turbo vs jpeg-js): only clear calls must agree there.
    if (g.exact || ref.get(g.id)!.margin > 0.5) expect(row.class, `${g.id}: top-1`).toBe(ref.get(g.id)!.top1);
  }
  expect(coordinator.stdout()).toMatch(new RegExp(`${bad.length} errors`));
});

test('tabs closed, workers crashed or frozen, sockets cut: batches run elsewhere, every input once, top-1 as the reference', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 120, 224, 224, 41);
  const out = path.join(tmp, 'out.jsonl');
  // --verify 0: rows are written as answered, so each fault lands at its row count (verification holds rows and releases them in bursts).
  const c = await start(
    jobArgv({
      data: path.join(tmp, 'data'),
      out,
      ep: 'wasm',
      batchSize: 2,
      pool: '1..6',
      batchTimeout: '6s',
      maxTasksInFlight: 1,
      verify: 0,
    }),
  );
  const pages = [];
  for (let i = 0; i < 2; i++) pages.push(await openTab(browser, c.workerUrl));
  const routed = await openRoutedTab(browser, c.workerUrl);
  pages.push(routed.page, await openTab(browser, c.workerUrl));
  await waitForRows(c, 10);
  await pages[0]!.context().close(); // a tab closed mid-batch
  await waitForRows(c, 30);
  await pages[1]!.evaluate(() => window.__tabpool!.crashWorker());
  await waitForRows(c, 50);
  await routed.cut(); // the socket cut, as a network drop would
  await waitForRows(c, 70);
  await pages[3]!.evaluate(() => window.__tabpool!.freezeWorker());
  expect(await c.exited, c.stderr()).toBe(0);
  await expectExact(out, model.path, files);
  // The crashed and cut tabs rejoined as new actors, with the model from their cache.
  expect(await pages[1]!.locator('[data-field="state"]').textContent()).toBe('finished');
  expect(c.stderr()).toMatch(/failed: WORKER_CRASHED: the actor worker crashed/);
  // The frozen tab's batch ran elsewhere: after its deadline, or sooner, as a copy at the job's tail.
  expect(c.stderr()).toMatch(/missed the deadline for batch \d+ \(6s\): evicting it|also sent to idle actor-\d+/);
  expect(c.stderr()).toMatch(/ready on wasm: model from cache/);
});

test('chaos: a random tab killed and a new one opened every 2 s; the output equals the reference run', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 200, 224, 224, 53);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', batchSize: 4, pool: '1..4', quiet: true }));
  const pages: Page[] = [];
  for (let i = 0; i < 4; i++) pages.push(await openTab(browser, c.workerUrl));
  let exited = false;
  void c.exited.then(() => (exited = true));
  let seed = 99;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  let kills = 0;
  while (!exited && kills < 30) {
    await Promise.race([c.exited, new Promise((r) => setTimeout(r, 2000))]);
    if (exited) break;
    const victim = pages.splice(rand(pages.length), 1)[0]!;
    await victim.context().close();
    kills++;
    // The job may end (and its server close) between the check above and this tab opening: the exit code below decides.
    const fresh = await openTab(browser, c.workerUrl).catch(() => null);
    if (!fresh) break;
    pages.push(fresh);
  }
  expect(await c.exited, c.stderr()).toBe(0);
  expect(kills).toBeGreaterThan(0);
  await expectExact(out, model.path, files);
});

test('a WebGPU device lost mid-job: the batch is requeued, the tab rejoins, every image is predicted', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 4, 224, 224, 61);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(
    jobArgv({ data: path.join(tmp, 'data'), out, ep: 'webgpu', allowSoftwareGpu: true, batchSize: 1, pool: 2, maxTasksInFlight: 1 }),
  );
  const pages = [await openTab(browser, c.workerUrl), await openTab(browser, c.workerUrl)];
  await expect(pages[0]!.locator('[data-field="state"]')).toHaveText(/ready|busy/, { timeout: 180_000 });
  expect(await pages[0]!.evaluate(() => window.__tabpool!.loseDevice())).toBe(true);
  expect(await c.exited, c.stderr()).toBe(0);
  await expectExact(out, model.path, files);
  expect(c.stderr()).toMatch(/DEVICE_LOST/);
});
