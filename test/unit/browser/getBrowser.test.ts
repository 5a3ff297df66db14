/**
 * Getting a browser when none is installed: the one found is used as it is; otherwise Playwright's
 * download, then Debian's package as root, each said in the log; when neither can, BROWSER_NOT_FOUND
 * names what failed and the commands to run. A browser named by TABPOOL_CHROMIUM is never replaced.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TabpoolError } from '../../../shared/errors.ts';
import { ensureChromium, type BrowserSources } from '../../../coordinator/browser/getBrowser.ts';

const missing = (): string => {
  throw new TabpoolError('BROWSER_NOT_FOUND', 'no Chromium-family browser on PATH');
};

function sources(over: Partial<BrowserSources>, calls: string[]): BrowserSources {
  return {
    find: missing,
    named: false,
    playwright: async () => {
      calls.push('playwright');
      throw new Error('getaddrinfo ENOTFOUND cdn.playwright.dev');
    },
    apt: async (pkg) => void calls.push(`apt ${pkg}`),
    ...over,
  };
}

test('an installed browser is used as it is: nothing is downloaded or installed', async () => {
  const calls: string[] = [];
  assert.equal(await ensureChromium(() => undefined, sources({ find: () => '/usr/bin/chromium' }, calls)), '/usr/bin/chromium');
  assert.deepEqual(calls, []);
});

test('none installed: Playwright’s download is tried first, and said in the log', async () => {
  const calls: string[] = [];
  const log: string[] = [];
  const file = await ensureChromium(
    (l) => log.push(l),
    sources({ playwright: async () => (calls.push('playwright'), '/pw/chrome') }, calls),
  );
  assert.equal(file, '/pw/chrome');
  assert.deepEqual(calls, ['playwright']);
  assert.match(log.join('\n'), /downloading Playwright’s Chromium[\s\S]*installed: \/pw\/chrome/);
});

test('the download unreachable, root on Debian: apt-get installs chromium, and the browser it installed is used', async () => {
  const calls: string[] = [];
  let installed = false;
  const find = (): string => (installed ? '/usr/bin/chromium' : missing());
  const apt = async (pkg: string): Promise<void> => void (calls.push(`apt ${pkg}`), (installed = true));
  const log: string[] = [];
  assert.equal(await ensureChromium((l) => log.push(l), sources({ find, apt }, calls)), '/usr/bin/chromium');
  assert.deepEqual(calls, ['playwright', 'apt chromium']);
  assert.match(log.join('\n'), /apt-get install chromium/);
});

test('neither possible: BROWSER_NOT_FOUND says what failed and the exact commands to run', async () => {
  const calls: string[] = [];
  await assert.rejects(
    ensureChromium(() => undefined, sources({ apt: null }, calls)),
    (e: unknown) =>
      e instanceof TabpoolError &&
      e.code === 'BROWSER_NOT_FOUND' &&
      /Playwright's download failed \(getaddrinfo ENOTFOUND/.test(e.message) &&
      /sudo apt-get install chromium/.test(e.message) &&
      /npx playwright-core install chromium/.test(e.message) &&
      /--launch 0/.test(e.message),
  );
  assert.deepEqual(calls, ['playwright']);
});

test('a browser named by TABPOOL_CHROMIUM that is not there is the error: nothing is fetched in its place', async () => {
  const calls: string[] = [];
  const find = (): string => {
    throw new TabpoolError('BROWSER_NOT_FOUND', 'TABPOOL_CHROMIUM=/nope is not an executable file');
  };
  await assert.rejects(
    ensureChromium(() => undefined, sources({ find, named: true }, calls)),
    /TABPOOL_CHROMIUM=\/nope/,
  );
  assert.deepEqual(calls, []);
});
