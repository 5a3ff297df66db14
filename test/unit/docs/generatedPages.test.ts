/**
 * The docs' generated references (docs/gen/): every flag of every command is in the CLI reference,
 * every error code in the error table, and the check that `npm test` runs names a page that no
 * longer matches the code. (The API pages are checked by `npm run docs:check` itself: TypeDoc runs there.)
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { everyFlag } from '../../../docs/gen/cliReference.ts';
import { DOCS, stalePages } from '../../../docs/gen/generate.ts';
import { ERROR_CODES } from '../../../shared/errors.ts';

const committed = (page: string): string => readFileSync(path.join(DOCS, page), 'utf8');

test('every flag of every command appears in its command section of the committed CLI reference', () => {
  const page = committed('reference/cli.md');
  const sections = new Map(
    page
      .split(/^## tabpool /m)
      .slice(1)
      .map((s) => [s.slice(0, s.indexOf('\n')), s] as const),
  );
  const flags = everyFlag();
  assert.ok(flags.length > 80, `only ${flags.length} flags found: the walk over the commands is broken`);
  for (const command of ['run', 'gateway', 'serve', 'jobs', 'cancel', 'model build']) assert.ok(sections.has(command), command);
  const missing = flags.filter(([command, flag]) => !sections.get(command)?.includes(`\`${flag}`));
  assert.deepEqual(missing, []);
});

test('every error code appears in the committed error table', () => {
  const page = committed('reference/errors.md');
  const missing = Object.keys(ERROR_CODES).filter((code) => !page.includes(`| \`${code}\` |`));
  assert.deepEqual(missing, []);
});

test('the committed CLI, error and figures pages are what the code makes now', () => {
  assert.deepEqual(stalePages(DOCS, { api: false }), []);
});

test('a page edited by hand, or one the code no longer makes the same, is named by the check', () => {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'tabpool-docs-'));
  cpSync(path.join(DOCS, 'reference'), path.join(copy, 'reference'), { recursive: true });
  const cli = path.join(copy, 'reference', 'cli.md');
  writeFileSync(cli, readFileSync(cli, 'utf8').replace(/^\| `--heartbeat.*\n/m, ''));
  const errors = path.join(copy, 'reference', 'errors.md');
  writeFileSync(errors, `${readFileSync(errors, 'utf8')}\n| \`MADE_UP\` | by hand |\n`);
  assert.deepEqual(stalePages(copy, { api: false }), ['reference/cli.md', 'reference/errors.md']);
});
