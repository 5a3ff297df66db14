/**
 * The pages' build (worker page, status page): made by `npm ci` (prepare), and rebuilt here when
 * it is missing or older than its sources (a checkout that changed web/ or shared/ since).
 *
 * TABPOOL_WEB_BUILD=test serves the test build instead (dist/web-test, `vite build --mode test`):
 * the same pages plus the hooks end-to-end tests drive (web/testing/). The default build has none.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TabpoolError } from '../../shared/errors.ts';

/** The package's root: the clone, or the installed package (this file is then dist/lib/coordinator/browser/webBuild.js). */
export const ROOT = packageRoot(path.dirname(fileURLToPath(import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export type WebBuildMode = 'production' | 'test';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

export function webBuildDir(mode: WebBuildMode): string {
  return path.join(ROOT, 'dist', mode === 'test' ? 'web-test' : 'web');
}

export async function ensureWebBuild(
  mode: WebBuildMode = process.env.TABPOOL_WEB_BUILD === 'test' ? 'test' : 'production',
  log: (line: string) => void = (line) => void process.stderr.write(`${line}\n`),
): Promise<string> {
  const dir = webBuildDir(mode);
  const index = path.join(dir, 'index.html');
  const built = existsSync(index) && existsSync(path.join(dir, 'status.html')) && existsSync(path.join(dir, 'pool.html'));
  // An installed package carries the pages prebuilt and not their sources: they are served as they are.
  if (!existsSync(path.join(ROOT, 'web'))) {
    if (built) return dir;
    throw new TabpoolError(
      'JOB_FAILED',
      `the worker and status pages are missing from ${dir}: reinstall tabpool (its package carries them)`,
    );
  }
  if (built) {
    const built = statSync(index).mtimeMs;
    const sources = Math.max(
      newestMtime(path.join(ROOT, 'web')),
      newestMtime(path.join(ROOT, 'shared')),
      statSync(path.join(ROOT, 'vite.config.ts')).mtimeMs,
    );
    if (sources <= built) return dir;
  }
  log(`building the ${mode === 'test' ? 'test build of the ' : ''}pages (vite build)…`);
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), mode, logLevel: 'warn' });
  return dir;
}
