/**
 * Trust no tab: a tab whose answers are altered on the way to the coordinator (every class shifted
 * by one, scores untouched, the messages well-formed) among honest tabs gets none of its answers
 * into the output and is barred; honest tabs on different EPs never disagree with the reference.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from '@playwright/test';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import type { RunSummary } from '../../coordinator/cli/summary.ts';
import { workerUrlWith } from '../../shared/pageParams.ts';
import { ROUTES } from '../../shared/routes.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, openTab, test } from './fixtures.ts';

/** A tab whose results are rewritten between the page and the coordinator: each class shifted by one. */
async function openLyingTab(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.routeWebSocket(`**${ROUTES.socket}?*`, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (typeof message === 'string') {
        const msg = JSON.parse(message) as { type: string; items?: { ok: boolean; topk?: { class: number }[] }[] };
        if (msg.type === 'result') for (const item of msg.items ?? []) for (const e of item.topk ?? []) e.class = (e.class + 1) % 1000;
        server.send(JSON.stringify(msg));
      } else server.send(message);
    });
    server.onMessage((message) => ws.send(message));
  });
  await page.goto(url);
  return page;
}

test('a tab that lies among honest tabs gets nothing into the output and is barred; every row is the reference\'s', async ({ browser, tmp, coordinator: start }) => {
  // The full model: a job long enough that the liar answers its own batches (not only late copies).
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 64, 224, 224, 107);
  const out = path.join(tmp, 'out.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(['--data', path.join(tmp, 'data'), '--out', out, '--ep', 'wasm', '--pool', '4', '--summary-json', summary]);
  const liar = await openLyingTab(browser, c.workerUrl);
  for (let i = 0; i < 3; i++) await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const reference = await referencePredictions(model.path, files);
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  const wrong = rows.filter((r) => r.error !== null || r.class !== reference.get(r.id)!.top1).map((r) => r.id);
  expect(wrong).toEqual([]);
  const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
  expect(s.verify!.barredHosts).toHaveLength(1);
  expect(s.verify!.barredHosts[0]!.reason).toMatch(/actor-\d+ sent wrong results \(.*: the tab/);
  expect(c.stderr()).toMatch(/sent wrong results .*; host \S+ is barred from this job/);
  await expect(liar.locator('[data-field="reason"]')).toContainText('is barred from this job');
});

test('honest tabs on wasm and on WebGPU never disagree with the reference, with every input checked', async ({ browser, tmp, coordinator: start }) => {
  await writeTestPngs(path.join(tmp, 'data'), 8, 64, 64, 109);
  for (const ep of ['wasm', 'webgpu'] as const) {
    const summary = path.join(tmp, `summary-${ep}.json`);
    const c = await start(['--model', 'resnet18-tiny', '--data', path.join(tmp, 'data'), '--out', path.join(tmp, `out-${ep}.jsonl`), '--allow-software-gpu', '--pool', '1', '--batch-size', '4', '--verify', '1', '--summary-json', summary]);
    await openTab(browser, workerUrlWith(c.workerUrl, { ep }));
    expect(await c.exited, c.stderr()).toBe(0);
    const s = JSON.parse(await fs.readFile(summary, 'utf8')) as RunSummary;
    expect(s.actors.map((a) => a.ep)).toEqual([ep]);
    expect(s.verify!.inputsChecked, ep).toBe(8);
    expect(s.verify!.disagreements, ep).toBe(0);
  }
});
