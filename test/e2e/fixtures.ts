/**
 * Fixtures every end-to-end spec shares: a scratch folder, and `coordinator`, which starts a real
 * `tabpool run` on port 0 and always kills it when the test ends, passed or failed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test as base, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { startCoordinator, type RunningCoordinator } from '../support/coordinatorProcess.ts';

export { expect } from '@playwright/test';

export const test = base.extend<{ tmp: string; coordinator: (args: string[]) => Promise<RunningCoordinator> }>({
  // eslint-disable-next-line no-empty-pattern
  tmp: async ({}, use) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-e2e-'));
    await use(dir);
    await fs.rm(dir, { recursive: true, force: true });
  },
  // eslint-disable-next-line no-empty-pattern
  coordinator: async ({}, use) => {
    const started: RunningCoordinator[] = [];
    await use(async (args) => {
      const c = await startCoordinator(args);
      started.push(c);
      return c;
    });
    for (const c of started) c.kill('SIGKILL');
  },
});

/** Opens a tab on `url`: in a new browser context (its own profile, so its own host) unless one is given. */
export async function openTab(where: Browser | BrowserContext, url: string): Promise<Page> {
  const context = 'newContext' in where ? await where.newContext() : where;
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

export interface PoolStatus {
  pool: { min: number; max: number; active: number; standby: number; rejected: number };
  actors: { id: string; host: string; state: string; reason: string | null }[];
  hosts: { id: string }[];
  progress: { done: number; total: number | null };
}

/** GET /api/status with the job's token. */
export async function status(c: RunningCoordinator): Promise<PoolStatus> {
  const url = new URL(c.statusUrl);
  return (await (await fetch(`${url.origin}/api/status${url.search}`)).json()) as PoolStatus;
}
