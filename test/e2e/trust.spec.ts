/**
 * Trust no tab: a tab whose answers are altered on the way to the coordinator (every class shifted
 * by one, scores untouched, the messages well-formed) among honest tabs gets none of its answers
 * into the output and is barred (itself: the honest tabs of its browser profile stay); a liar on
 * CMYK JPEGs and BMPs is caught as well; a model whose batch is fixed to 1 is verified as it runs;
 * with tabs on three hosts, checks run on the tabs themselves and the coordinator's reference only
 * decides between two that differ; honest tabs on different EPs never disagree with the reference.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { buildResNet, ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import type { RunSummary } from '../../coordinator/api/summary.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { ROUTES } from '../../shared/routes.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeCmykJpegsAndBmps, writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, test } from './fixtures.ts';

/**
 * A tab whose results are rewritten between the page and the coordinator: each class shifted by one. In
 * `context` (a host of its own by default).
 */
async function openLyingTab(where: Browser | BrowserContext, url: string): Promise<Page> {
  const page = await ('newContext' in where ? await where.newContext() : where).newPage();
  await page.routeWebSocket(`**${ROUTES.socket}?*`, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (typeof message === 'string') {
        const msg = JSON.parse(message) as {
          type: string;
          items?: { ok: boolean; row?: { class: number; label: string; topk: { class: number; label: string }[] } }[];
        };
        if (msg.type === 'result') {
          for (const item of msg.items ?? []) {
            if (!item.row) continue;
            for (const e of item.row.topk) [e.class, e.label] = [(e.class + 1) % 1000, `class ${(e.class + 1) % 1000}`];
            [item.row.class, item.row.label] = [item.row.topk[0]!.class, item.row.topk[0]!.label];
          }
        }
        server.send(JSON.stringify(msg));
      } else server.send(message);
    });
    server.onMessage((message) => ws.send(message));
  });
  await page.goto(url);
  return page;
}

test(
  'a tab that lies among three honest tabs of its own browser profile gets nothing in; only it is barred, ' +
    "and every row is the reference's",
  async ({ browser, tmp, coordinator: start }) => {
    // The full model: a job long enough that the liar answers its own batches (not only late copies).
    const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
    const files = await writeTestPngs(path.join(tmp, 'data'), 64, 224, 224, 107);
    const out = path.join(tmp, 'out.jsonl');
    const summary = path.join(tmp, 'summary.json');
    const c = await start(jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 4, summaryJson: summary }));
    // One browser profile, four tabs: one host, as a lab machine running four tabs is.
    const lab = await browser.newContext();
    const liar = await openLyingTab(lab, c.workerUrl);
    for (let i = 0; i < 3; i++) await openTab(lab, c.workerUrl);
    expect(await c.exited, c.stderr()).toBe(0);
    const reference = await referencePredictions(model.path, files);
    const rows = await readRows(out);
    expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
    const wrong = rows.filter((r) => r.error !== null || r.class !== reference.get(r.id)!.top1).map((r) => r.id);
    expect(wrong).toEqual([]);
    const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
    expect(s.verify!.barredActors).toHaveLength(1);
    expect(s.verify!.barredActors[0]!.reason).toMatch(/actor-\d+ sent wrong results \(.*: the tab/);
    expect(s.verify!.barredHosts, 'the honest tabs of its host were not barred').toEqual([]);
    expect(s.actors.length, 'the honest tabs did work').toBeGreaterThanOrEqual(3);
    expect(c.stderr()).toMatch(/sent wrong results .*; it is barred from this job, and host \S+'s other actors are back on probation/);
    await expect(liar.locator('[data-field="reason"]')).toContainText('it is barred from this job');
  },
);

test('a tab lying only on CMYK JPEGs and BMPs gets nothing in: the coordinator decodes them as Chromium does', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const files = await writeCmykJpegsAndBmps(path.join(tmp, 'data'), 24);
  const out = path.join(tmp, 'out.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({ model: 'resnet18-tiny', data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 3, batchSize: 2, summaryJson: summary }),
  );
  await openLyingTab(browser, c.workerUrl);
  for (let i = 0; i < 2; i++) await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const reference = await referencePredictions(model.path, files, 'chromium');
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  expect(rows.filter((r) => r.error !== null || r.class !== reference.get(r.id)!.top1).map((r) => r.id)).toEqual([]);
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  expect(s.verify!.barredActors).toHaveLength(1);
  expect(s.verify!.uncheckable, 'every CMYK JPEG and BMP drawn was decoded').toBe(0);
  expect(s.verify!.unverifiedRows).toBe(0);
});

test("a model whose batch is fixed to 1 is verified as the tabs run it: rows equal onnxruntime-node's", async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const modelPath = path.join(tmp, 'batch1.onnx');
  await fs.writeFile(modelPath, buildResNet({ variant: 'tiny', batch: 1 }));
  const files = await writeTestPngs(path.join(tmp, 'data'), 16, 64, 64, 111);
  const out = path.join(tmp, 'out.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(jobArgv({ model: modelPath, data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 2, summaryJson: summary }));
  // Both tabs in one browser profile (one host): no peer can check, so the coordinator's reference does.
  const host = await browser.newContext();
  for (let i = 0; i < 2; i++) await openTab(host, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const reference = await referencePredictions(modelPath, files);
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  expect(rows.filter((r) => r.error !== null || r.class !== reference.get(r.id)!.top1).map((r) => r.id)).toEqual([]);
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  expect(s.verify!.inputsChecked).toBeGreaterThan(0);
  expect(s.verify!.referenceInputs, 'the reference ran the batch-1 model').toBeGreaterThan(0);
  expect(s.verify!.disagreements).toBe(0);
});

test('a lying tab among honest tabs on three hosts is caught by a peer check; the reference ran only to decide', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const files = await writeTestPngs(path.join(tmp, 'data'), 48, 64, 64, 113);
  const out = path.join(tmp, 'out.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({ model: 'resnet18-tiny', data: path.join(tmp, 'data'), out, ep: 'wasm', pool: 3, batchSize: 4, summaryJson: summary }),
  );
  // Three browser profiles: three hosts, each able to check the others.
  await openLyingTab(browser, c.workerUrl);
  for (let i = 0; i < 2; i++) await openTab(browser, c.workerUrl);
  const status = await (await browser.newContext()).newPage();
  await status.goto(c.statusUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const reference = await referencePredictions(model.path, files);
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  expect(rows.filter((r) => r.error !== null || r.class !== reference.get(r.id)!.top1).map((r) => r.id)).toEqual([]);
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  const v = s.verify!;
  expect(v.barredActors).toHaveLength(1);
  expect(v.peerChecks, 'checks ran on the tabs').toBeGreaterThan(0);
  expect(v.arbitrations).toBeGreaterThan(0);
  expect(v.referenceInputs, 'the coordinator computed only to decide between two tabs').toBe(v.arbitrationInputs);
  expect(c.stdout() + c.stderr()).toMatch(/by actors of other hosts/);
  await expect(status.locator('[data-field="verify"]')).toContainText('by actors of other hosts');
});

test('honest tabs on wasm and on WebGPU never disagree with the reference, with every input checked', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  await writeTestPngs(path.join(tmp, 'data'), 8, 64, 64, 109);
  for (const ep of ['wasm', 'webgpu'] as const) {
    const summary = path.join(tmp, `summary-${ep}.json`);
    const c = await start(
      jobArgv({
        model: 'resnet18-tiny',
        data: path.join(tmp, 'data'),
        out: path.join(tmp, `out-${ep}.jsonl`),
        allowSoftwareGpu: true,
        pool: 1,
        batchSize: 4,
        verify: 1,
        summaryJson: summary,
      }),
    );
    await openTab(browser, workerUrlWith(c.workerUrl, { ep }));
    expect(await c.exited, c.stderr()).toBe(0);
    const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
    expect(s.actors.map((a) => a.ep)).toEqual([ep]);
    expect(s.verify!.inputsChecked, ep).toBe(8);
    expect(s.verify!.disagreements, ep).toBe(0);
  }
});
