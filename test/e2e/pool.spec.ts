/**
 * The pool, as a Ray Data user expects it: a MIN..MAX pool with standby tabs promoted when an
 * actor leaves, per-host budgets, and refusals whose reasons the tab and the CLI both show.
 */
import path from 'node:path';
import type { Page } from '@playwright/test';
import { readRows } from '../support/reference.ts';
import { expect, jobArgv, openTab, status, test } from './fixtures.ts';

test('five tabs on --pool 2..3 give 3 active and 2 standby; closing an active one promotes a standby and no row is lost', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(jobArgv({ pool: '2..3', ep: 'wasm', batchSize: 4, out, quiet: true }));
  const pages: Page[] = [];
  for (let i = 0; i < 5; i++) pages.push(await openTab(browser, c.workerUrl));
  await expect.poll(async () => (await status(c)).pool, { timeout: 60_000 }).toMatchObject({ active: 3, standby: 2 });
  // The page of a standby tab says so, with the reason.
  const standbyTexts = await Promise.all(pages.map((p) => p.locator('[data-field="state"]').textContent()));
  expect(standbyTexts.filter((t) => t === 'standby')).toHaveLength(2);
  const standbyPage = pages[standbyTexts.indexOf('standby')]!;
  await expect(standbyPage.locator('[data-field="reason"]')).toContainText('the pool is full (3 of max 3 actors)');

  const activeIndex = standbyTexts.findIndex((t) => t !== 'standby');
  await pages[activeIndex]!.context().close();
  await expect.poll(async () => (await status(c)).pool, { timeout: 60_000 }).toMatchObject({ active: 3, standby: 1 });

  expect(await c.exited, c.stderr()).toBe(0);
  const rows = await readRows(out);
  expect(rows).toHaveLength(256);
  expect(new Set(rows.map((r) => r.id)).size).toBe(256);
  expect(rows.filter((r) => r.error !== null)).toEqual([]);
});

test('one host declaring memory=16GiB holds 3 actors of --memory 5GiB; the others wait with the numbers', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(jobArgv({ memory: '5GiB', numGpus: 0, pool: '1..8', out, quiet: true, batchSize: 4 }));
  const context = await browser.newContext();
  const pages: Page[] = [];
  for (let i = 0; i < 5; i++) pages.push(await openTab(context, `${c.workerUrl}&memory=16GiB`));
  await expect.poll(async () => (await status(c)).pool, { timeout: 60_000 }).toMatchObject({ active: 3, standby: 2 });
  const s = await status(c);
  expect(s.hosts).toHaveLength(1);
  const waiting = s.actors.filter((a) => a.state === 'standby');
  for (const a of waiting) expect(a.reason).toContain('memory: needs 5.0 GiB, 1.0 GiB free');
  const texts = await Promise.all(pages.map((p) => p.locator('[data-field="reason"]').textContent()));
  expect(texts.filter((t) => t?.includes('memory: needs 5.0 GiB'))).toHaveLength(2);
  expect(await c.exited, c.stderr()).toBe(0);
});

test('--num-gpus 1 with only a software adapter rejects every tab with a reason, and the CLI gives up after --join-timeout', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const coordinator = await start(jobArgv({ numGpus: 1, joinTimeout: '8s', out: path.join(tmp, 'out.jsonl') }));
  const pages = [await openTab(browser, coordinator.workerUrl), await openTab(browser, coordinator.workerUrl)];
  for (const p of pages) {
    await expect(p.locator('[data-field="state"]')).toHaveText('rejected');
    await expect(p.locator('[data-field="reason"]')).toContainText('software');
    await expect(p.locator('[data-field="reason"]')).toContainText('--allow-software-gpu');
  }
  expect(await coordinator.exited).toBe(1);
  expect(coordinator.stderr()).toMatch(/NO_ACTORS: no actor was ready after --join-timeout 8s/);
  expect(coordinator.stderr()).toMatch(/only WebGPU adapter is software/);
});
