/**
 * The worker page's build: made by `npm ci` (prepare), and rebuilt here when it is missing or
 * older than its sources (a checkout that changed web/ or shared/ since the last build).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

export async function ensureWebBuild(root: string): Promise<string> {
  const dir = path.join(root, 'dist', 'web');
  const index = path.join(dir, 'index.html');
  if (existsSync(index)) {
    const built = statSync(index).mtimeMs;
    const sources = Math.max(newestMtime(path.join(root, 'web')), newestMtime(path.join(root, 'shared')));
    if (sources <= built) return dir;
  }
  process.stderr.write('building the worker page (vite build)…\n');
  const { build } = await import('vite');
  await build({ configFile: path.join(root, 'vite.config.ts'), root: path.join(root, 'web'), logLevel: 'warn' });
  return dir;
}
