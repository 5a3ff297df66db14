/**
 * `npm run docs:gen` writes the docs' generated pages; `npm run docs:check` (part of `npm test`) makes
 * them again in a scratch folder and fails, naming each page, when the committed one differs:
 * - reference/cli.md, from the commander declarations;
 * - reference/errors.md, from shared/errors.ts;
 * - reference/figures.md, from bench/results.json;
 * - reference/api/, from the exported types and their doc comments (TypeDoc, with the TypeScript 6 of
 *   docs/package.json: TypeDoc does not run on the project's TypeScript 7).
 * The docs' own tools live in docs/node_modules, installed here from docs/package-lock.json when missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliReference } from './cliReference.ts';
import { errorTable } from './errorTable.ts';
import { figures } from './figures.ts';

export const DOCS = fileURLToPath(new URL('..', import.meta.url));
const ROOT = path.dirname(DOCS);
const say = (line: string): void => void process.stderr.write(`docs: ${line}\n`);

/** The generated Markdown pages, by their path under docs/. */
export const PAGES: Record<string, () => string> = {
  'reference/cli.md': cliReference,
  'reference/errors.md': errorTable,
  'reference/figures.md': () => figures(path.join(ROOT, 'bench', 'results.json')),
};

function typedoc(): string {
  const bin = path.join(DOCS, 'node_modules', '.bin', 'typedoc');
  if (!existsSync(bin)) {
    say('installing the docs tools (npm ci in docs/: VitePress, TypeDoc and its TypeScript 6)…');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: DOCS, stdio: 'inherit' });
  }
  return bin;
}

/** The API reference into `out` (TypeDoc, docs/typedoc.json; a warning, such as an exported type left undocumented, fails it). */
export function apiReference(out: string): void {
  execFileSync(typedoc(), ['--out', out, '--logLevel', 'Warn'], { cwd: DOCS, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

const same = (a: string, b: string): boolean => existsSync(a) && existsSync(b) && readFileSync(a, 'utf8') === readFileSync(b, 'utf8');

/** The generated pages under `docs` that differ from what the code makes now (missing and extra ones included). */
export function stalePages(docs: string, opts: { api: boolean }): string[] {
  const stale = Object.entries(PAGES)
    .filter(([page, make]) => !existsSync(path.join(docs, page)) || readFileSync(path.join(docs, page), 'utf8') !== make())
    .map(([page]) => page);
  if (!opts.api) return stale;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'tabpool-api-'));
  try {
    apiReference(scratch);
    const committed = path.join(docs, 'reference', 'api');
    const names = new Set([...filesUnder(scratch), ...filesUnder(committed)]);
    for (const name of [...names].sort()) {
      if (!same(path.join(scratch, name), path.join(committed, name))) stale.push(`reference/api/${name}`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return stale;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--check')) {
    for (const [page, make] of Object.entries(PAGES)) writeFileSync(path.join(DOCS, page), make());
    apiReference(path.join(DOCS, 'reference', 'api'));
    say(`wrote ${Object.keys(PAGES).join(', ')} and reference/api/`);
  } else {
    const stale = stalePages(DOCS, { api: true });
    if (stale.length > 0) {
      say(`${stale.length} generated page(s) differ from what the code makes now: ${stale.join(', ')}`);
      say('run `npm run docs:gen` and commit the pages');
      process.exit(1);
    }
    say(`the CLI, error, figures and API references match the code (${Object.keys(PAGES).length} pages and reference/api/)`);
  }
}
