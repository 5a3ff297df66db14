/**
 * A Chromium for `--launch` when none is installed: Playwright's own download where this machine can
 * reach it, the system package manager where tabpool runs as root on Debian (as CI does), and
 * otherwise BROWSER_NOT_FOUND with the exact commands to run. Each step is said in the log.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { TabpoolError } from '../../shared/errors.ts';
import { findChromium } from './launcher.ts';

const run = promisify(execFile);

/** What getting a browser may do; tests replace these. */
export interface BrowserSources {
  find(): string;
  /** A browser named by TABPOOL_CHROMIUM or CHROME_PATH: when it is wrong, that is the error, and nothing is fetched. */
  named: boolean;
  /** Downloads Playwright's Chromium; its executable's path, or why not. */
  playwright(): Promise<string>;
  /** Root on Debian (apt-get present): installs a Debian package, or says why not. */
  apt: ((pkg: string) => Promise<void>) | null;
}

/** The installed browser, or one got now (said in `log`); BROWSER_NOT_FOUND with the commands when none can be. */
export async function ensureChromium(log: (line: string) => void, sources: BrowserSources = systemSources()): Promise<string> {
  try {
    return sources.find();
  } catch (err) {
    if (!(err instanceof TabpoolError) || err.code !== 'BROWSER_NOT_FOUND' || sources.named) throw err;
  }
  const tried: string[] = [];
  log('no Chromium-family browser found: downloading Playwright’s Chromium (npx playwright-core install chromium)…');
  try {
    const file = await sources.playwright();
    log(`Playwright’s Chromium is installed: ${file}`);
    return file;
  } catch (err) {
    tried.push(`Playwright's download failed (${firstLine(err)})`);
  }
  if (sources.apt) {
    log('installing Debian’s chromium (apt-get install chromium, as root)…');
    try {
      await sources.apt('chromium');
      const file = sources.find();
      log(`chromium is installed: ${file}`);
      return file;
    } catch (err) {
      tried.push(`apt-get install chromium failed (${firstLine(err)})`);
    }
  }
  throw new TabpoolError(
    'BROWSER_NOT_FOUND',
    `no Chromium-family browser, and none could be got: ${tried.join('; ')}. Install one: ` +
      '`sudo apt-get install chromium` (Debian, Ubuntu), `npx playwright-core install chromium` (where it can download), ' +
      'or any Chrome/Edge; or set TABPOOL_CHROMIUM=/path/to/chrome; or use --launch 0 and open the printed URL in any browser',
  );
}

/** An error in one line: for a command that failed, the first line of its stderr that names an error. */
function firstLine(err: unknown): string {
  const stderr = String((err as { stderr?: unknown }).stderr ?? '');
  const named = stderr.split('\n').find((l) => /error/i.test(l));
  if (named) return named.trim();
  return (err instanceof Error ? err.message : String(err)).split('\n').find((l) => l.trim()) ?? 'no message';
}

/** Installs a Debian package as root, non-interactively (what .ci/run does); null where that is not possible. */
export function aptInstaller(): ((pkg: string) => Promise<void>) | null {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get') || !existsSync('/etc/debian_version')) return null;
  return async (pkg) => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 16 << 20 });
    await run('apt-get', ['install', '-y', '-qq', pkg], { env, maxBuffer: 16 << 20 });
  };
}

function systemSources(): BrowserSources {
  const require = createRequire(import.meta.url);
  return {
    find: () => findChromium(),
    named: Boolean(process.env.TABPOOL_CHROMIUM ?? process.env.CHROME_PATH),
    playwright: async () => {
      const cli = path.join(path.dirname(require.resolve('playwright-core/package.json')), 'cli.js');
      await run(process.execPath, [cli, 'install', 'chromium'], { timeout: 10 * 60_000, maxBuffer: 16 << 20 });
      const { chromium } = (await import('playwright-core')) as typeof import('playwright-core');
      const file = chromium.executablePath();
      if (!existsSync(file)) throw new Error(`the download left no browser at ${file}`);
      return file;
    },
    apt: aptInstaller(),
  };
}
