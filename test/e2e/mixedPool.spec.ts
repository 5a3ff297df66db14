/**
 * Mixed pools in real tabs: with --ep auto a tab measures the job's model on each EP it may use
 * and keeps the faster; a tab pinned in its URL runs its EP; both answer as onnxruntime-node does.
 */
import path from 'node:path';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { maxRelativeDifference, readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, status, test } from './fixtures.ts';

test('on a software GPU, --ep auto --allow-software-gpu measures both EPs and keeps wasm; &ep=webgpu pins a tab to the GPU', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const files = await writeTestPngs(path.join(tmp, 'data'), 24, 64, 64, 71);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(
    jobArgv({ model: 'resnet18-tiny', data: path.join(tmp, 'data'), out, ep: 'auto', allowSoftwareGpu: true, pool: 2, logits: true }),
  );

  // The pool waits for its second actor: the first one's measurements can be read meanwhile.
  const auto = await openTab(browser, c.workerUrl);
  await expect.poll(async () => (await status(c)).actors.find((a) => a.state === 'ready')?.probe.length ?? 0, { timeout: 120_000 }).toBe(2);
  const measured = (await status(c)).actors.find((a) => a.state === 'ready')!;
  expect(measured.offered).toEqual(['webgpu', 'wasm']);
  const byEp = Object.fromEntries(measured.probe.map((f) => [f.ep, f.imagesPerSecond]));
  expect(byEp.wasm, 'wasm measured').toBeGreaterThan(0);
  expect(byEp.webgpu, 'webgpu measured').toBeGreaterThan(0);
  expect(byEp.wasm!).toBeGreaterThan(byEp.webgpu!);
  expect(measured.ep).toBe('wasm');
  expect(measured.adapter).toMatch(/swiftshader \(software\)/);
  await expect(auto.locator('[data-field="ep"]')).toHaveText(/^wasm \(measured: wasm [\d.]+ img\/s, webgpu [\d.]+ img\/s\)$/);

  const pinned = await openTab(browser, workerUrlWith(c.workerUrl, { ep: 'webgpu' }));
  expect(await c.exited, c.stderr()).toBe(0);
  await expect(pinned.locator('[data-field="ep"]')).toHaveText('webgpu');
  expect(c.stderr()).toMatch(/actor-1 ready on wasm \(measured wasm [\d.]+ img\/s, webgpu [\d.]+ img\/s\)/);
  expect(c.stderr()).toMatch(/actor-2 joined from host \S+: admitted \(webgpu\)/);

  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  const reference = await referencePredictions(model.path, files);
  for (const row of rows) {
    expect(row.error, `${row.id} has an error row`).toBeNull();
    expect(row.class, `${row.id}: top-1`).toBe(reference.get(row.id)!.top1);
    expect(maxRelativeDifference(row.logits!, reference.get(row.id)!.logits), `${row.id}: logits`).toBeLessThan(1e-3);
  }
});
