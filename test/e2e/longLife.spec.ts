/**
 * A tab that serves for days: onnxruntime-web never gives wasm memory back, so the tab starts its
 * actor afresh every --recycle-after batches (a new worker, the model from its cache), between
 * batches, while the old one finishes what it runs. Nothing lost, nothing run twice: every input
 * once, each onnxruntime-node's prediction, no batch failed.
 */
import path from 'node:path';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { maxRelativeDifference, readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, test } from './fixtures.ts';

test('--recycle-after 40: the tab restarts its actor every 40 batches, between batches; every input once, as onnxruntime-node', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const files = await writeTestPngs(path.join(tmp, 'data'), 400, 64, 64, 61);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(
    jobArgv({
      model: 'resnet18-tiny',
      data: path.join(tmp, 'data'),
      out,
      ep: 'wasm',
      batchSize: 1,
      pool: 1,
      recycleAfter: 40,
      logits: true,
      verify: 0,
    }),
  );
  const page = await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  // 400 batches, a restart due every 40 (each loads while the old actor still runs, so more batches may pass meanwhile).
  const restarts = Number(await page.locator('[data-field="recycled"]').textContent());
  expect(restarts, 'restarts of the actor').toBeGreaterThanOrEqual(2);
  expect(c.stderr()).not.toMatch(/failed batch|left mid-batch/);
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  const ref = await referencePredictions(model.path, files);
  for (const row of rows) {
    expect(row.error, row.id).toBeNull();
    expect(row.class, `${row.id}: top-1`).toBe(ref.get(row.id)!.top1);
    expect(maxRelativeDifference(row.logits!, ref.get(row.id)!.logits)).toBeLessThan(1e-3);
  }
});
