/**
 * Fixtures every end-to-end spec shares: a scratch folder, and `coordinator`, which starts a real
 * `tabpool run` on port 0 (serving the test build of the pages, whose hooks the specs drive) and
 * always kills it when the test ends, passed or failed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test as base, type Browser, type BrowserContext, type Page, type WebSocketRoute } from '@playwright/test';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import type { JobStatus } from '../../shared/status.ts';
import { startCoordinator, type RunningCoordinator } from '../support/coordinatorProcess.ts';
import type {} from '../../web/testing/hooks.ts';

export { expect } from '@playwright/test';
export { gatewayArgv, jobArgv, serveArgv, type JobFlags } from '../support/jobArgv.ts';

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
      const c = await startCoordinator(args, { env: { TABPOOL_WEB_BUILD: 'test' } });
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

/**
 * Opens a tab whose WebSocket runs through Playwright's router, so the test can cut it from
 * outside, as a network drop would. Returns the page and a function that cuts the socket.
 */
export async function openRoutedTab(browser: Browser, url: string): Promise<{ page: Page; cut(): Promise<void> }> {
  const page = await (await browser.newContext()).newPage();
  let route: WebSocketRoute | null = null;
  await page.routeWebSocket(`**${ROUTES.socket}?*`, (ws) => {
    route = ws;
    ws.connectToServer();
  });
  await page.goto(url);
  return {
    page,
    cut: async () => {
      if (!route) throw new Error('the page opened no WebSocket');
      // 4xxx from the network's side, which no table marks as final: the page rejoins.
      await route.close({ code: 4999, reason: 'cut by the test' });
    },
  };
}

/** GET /api/status with the job's token. */
export async function status(c: RunningCoordinator): Promise<JobStatus> {
  const url = new URL(c.statusUrl);
  return (await (await fetch(`${url.origin}${ROUTES.statusApi}?${TOKEN_PARAM}=${url.searchParams.get(TOKEN_PARAM)}`)).json()) as JobStatus;
}
