/** The worker page's build: made by `npm ci` (prepare), rebuilt here if it is missing. */
import { existsSync } from 'node:fs';
import path from 'node:path';

export async function ensureWebBuild(root: string): Promise<string> {
  const dir = path.join(root, 'dist', 'web');
  if (existsSync(path.join(dir, 'index.html'))) return dir;
  process.stderr.write('building the worker page (vite build)…\n');
  const { build } = await import('vite');
  await build({ configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn' });
  return dir;
}
