import { defineConfig } from '@playwright/test';
import { chromiumArgs, findChromium } from './coordinator/browser/launcher.ts';

// Browsers come from the machine (Debian's chromium here), never from Playwright's downloader.
export default defineConfig({
  testDir: 'test/e2e',
  testMatch: '**/*.spec.ts',
  // One at a time: two cores, and every spec already runs a coordinator plus several tabs.
  workers: 1,
  fullyParallel: false,
  timeout: 6 * 60_000,
  expect: { timeout: 60_000 },
  reporter: [['list']],
  use: {
    launchOptions: { executablePath: findChromium(), args: chromiumArgs() },
    headless: true,
  },
});
