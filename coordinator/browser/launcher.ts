/**
 * `--launch K`: K local headless Chromium tabs through Playwright. Each tab gets its own browser
 * context (its own profile, so its own host in the pool), and WebGPU is switched on. The K "hosts"
 * share this machine, so each declares its share of its cores (`&cpus=`) in its URL: one tab on a
 * 16-core machine runs 16 wasm threads, four run 4 each, rather than each believing it has all 16. The browser
 * is found on the machine (TABPOOL_CHROMIUM, the usual names on PATH, then Playwright's own download);
 * getBrowser.ts gets one when there is none.
 */
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TabpoolError } from '../../shared/errors.ts';
import { PAGE_PARAMS, workerUrlWith } from '../../shared/pageParams.ts';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome', 'microsoft-edge'];

export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.TABPOOL_CHROMIUM ?? env.CHROME_PATH;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new TabpoolError('BROWSER_NOT_FOUND', `TABPOOL_CHROMIUM=${explicit} is not an executable file`);
  }
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of CANDIDATES) {
    for (const dir of [...dirs, '/usr/bin', '/usr/local/bin', '/snap/bin']) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  // A Chromium that Playwright downloaded (getBrowser.ts, or `npx playwright-core install chromium`).
  const downloaded = playwrightChromium();
  if (downloaded) return downloaded;
  throw new TabpoolError(
    'BROWSER_NOT_FOUND',
    `no Chromium-family browser on PATH (looked for ${CANDIDATES.join(', ')}); install one (Debian: apt-get ` +
      `install chromium), set TABPOOL_CHROMIUM=/path/to/chrome, or use --launch 0 and open the printed URL in any browser`,
  );
}

function playwrightChromium(): string | null {
  try {
    const file = chromium.executablePath();
    return isExecutable(file) ? file : null;
  } catch {
    return null;
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function chromiumArgs(): string[] {
  const args = [
    '--enable-unsafe-webgpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    // Background tabs must keep running their workers at full speed.
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return args;
}

export interface LaunchedTabs {
  browser: Browser;
  pages: Page[];
  close(): Promise<void>;
}

/** `acceptSelfSigned`: the job serves https with a certificate this browser cannot verify (--tls self-signed): its own tabs accept it. */
export async function launchTabs(
  count: number,
  url: string,
  opts: { acceptSelfSigned: boolean },
  onConsole?: (tab: number, line: string) => void,
): Promise<LaunchedTabs> {
  const executablePath = findChromium();
  const browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs() });
  const pages: Page[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: opts.acceptSelfSigned });
      const page = await context.newPage();
      if (onConsole) {
        page.on('console', (m) => onConsole(i, `${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => onConsole(i, `pageerror: ${e.message}`));
      }
      pages.push(page);
    }
    await Promise.all(pages.map((p) => p.goto(launchedUrl(url, count))));
  } catch (err) {
    await browser.close().catch(() => undefined);
    throw err;
  }
  return {
    browser,
    pages,
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}

/** The worker URL a launched tab opens: with its share of this machine's cores, unless the URL declares its CPUs already. */
export function launchedUrl(url: string, count: number, cores = os.availableParallelism()): string {
  if (new URL(url).searchParams.has(PAGE_PARAMS.cpus)) return url;
  return workerUrlWith(url, { cpus: Math.max(1, Math.floor(cores / Math.max(1, count))) });
}
