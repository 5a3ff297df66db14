/**
 * The tree keeps its shape: each folder imports only from the folders it may (dependencies point
 * one way, and coordinator/ and web/ never import each other), no module imports itself back
 * through others (no cycles, whatever the folders), no source file grows past 400 lines, web/
 * names no route or close code by hand, and the shipped pages carry no test hooks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ensureWebBuild, ROOT } from '../../../coordinator/browser/webBuild.ts';

/** Folder (or file) → the folders and files it may import from. Anything not listed here is refused. */
const ALLOWED: Record<string, string[]> = {
  shared: ['shared'],
  // The built-in actors: written on the actor API alone, run in tabs and in the coordinator alike.
  actors: ['shared', 'actors'],
  // A job's options: their raw form, defaults and checks, for the CLI and the API alike (never commander).
  'coordinator/options': ['shared', 'coordinator/options', 'coordinator/queue/names.ts'],
  // A job's actor in the coordinator: bundled, checked, dry-run, described to tabs.
  'coordinator/actor': [
    'shared',
    'actors',
    'coordinator/actor',
    'coordinator/io',
    'coordinator/model',
    'coordinator/host',
    'coordinator/server',
  ],
  'coordinator/main.ts': ['coordinator/cli'],
  'coordinator/builtin': ['shared', 'coordinator/builtin'],
  'coordinator/model': ['shared', 'coordinator/model', 'coordinator/builtin', 'coordinator/options'],
  'coordinator/pool': ['shared', 'coordinator/pool', 'coordinator/options'],
  'coordinator/io': ['shared', 'coordinator/io', 'coordinator/options'],
  'coordinator/server': ['shared', 'coordinator/server', 'coordinator/pool'],
  'coordinator/browser': ['shared', 'coordinator/browser'],
  // The actor host: tabs, dispatch, deadlines. It knows nothing of jobs, outputs or NATS.
  'coordinator/host': ['shared', 'coordinator/host', 'coordinator/pool', 'coordinator/io'],
  'coordinator/verify': ['shared', 'actors', 'coordinator/verify', 'coordinator/io', 'coordinator/actor'],
  // What every job has, whichever way it runs: its output (rows, the verifier), its counts and status.
  'coordinator/output': [
    'shared',
    'coordinator/output',
    'coordinator/host',
    'coordinator/pool',
    'coordinator/io',
    'coordinator/verify',
    'coordinator/options',
  ],
  // A job in this process: the dataset into the actor host, the host's answers to the output.
  'coordinator/job': [
    'shared',
    'coordinator/job',
    'coordinator/output',
    'coordinator/host',
    'coordinator/pool',
    'coordinator/io',
    'coordinator/verify',
    'coordinator/options',
  ],
  'coordinator/queue': [
    'shared',
    'coordinator/queue',
    'coordinator/actor',
    'coordinator/host',
    'coordinator/output',
    'coordinator/pool',
    'coordinator/io',
    'coordinator/model',
    'coordinator/verify',
    'coordinator/options',
  ],
  // The ways a job runs (in this process, on a standing pool, on a queue, a queue's gateway), behind one interface.
  'coordinator/modes': [
    'shared',
    'coordinator/modes',
    'coordinator/actor',
    'coordinator/browser',
    'coordinator/host',
    'coordinator/io',
    'coordinator/job',
    'coordinator/model',
    'coordinator/options',
    'coordinator/output',
    'coordinator/pool',
    'coordinator/queue',
    'coordinator/remote',
    'coordinator/server',
    'coordinator/verify',
  ],
  // The library's API (what `import 'tabpool'` gives): everything below it, never the command line.
  'coordinator/api': [
    'shared',
    'actors',
    'coordinator/api',
    'coordinator/actor',
    'coordinator/browser',
    'coordinator/builtin',
    'coordinator/host',
    'coordinator/io',
    'coordinator/job',
    'coordinator/model',
    'coordinator/modes',
    'coordinator/options',
    'coordinator/output',
    'coordinator/pool',
    'coordinator/queue',
    'coordinator/verify',
  ],
  // A standing pool's head (tabpool serve): tabs that stay, placement across jobs, the relay.
  'coordinator/head': ['shared', 'coordinator/head', 'coordinator/pool', 'coordinator/server', 'coordinator/browser'],
  // The submitting side of a standing pool (run --on): the head's tabs as links for the job's own host.
  'coordinator/remote': ['shared', 'coordinator/remote', 'coordinator/pool'],
  'coordinator/cli': ['shared', 'coordinator'],
  'web/workerApi.ts': ['shared'],
  'web/page': ['shared', 'web/page', 'web/workerApi.ts'],
  // The shipped entry starts the workers (new Worker(new URL(…))); nothing else in the page reaches into them.
  'web/page/main.ts': ['web/page', 'web/worker'],
  // What both status pages draw with (DOM helpers; the page and workers never use them).
  'web/dom': ['web/dom'],
  'web/status': ['shared', 'web/status', 'web/dom'],
  'web/pool': ['shared', 'web/pool', 'web/dom'],
  'web/worker': ['shared', 'actors', 'web/worker', 'web/workerApi.ts'],
  'web/testing': ['shared', 'actors', 'web/testing', 'web/page', 'web/worker', 'web/workerApi.ts'],
};

/** Data tables, exempt from the length rule. */
const DATA_TABLES = new Set(['shared/imagenetLabels.ts']);
const MAX_LINES = 400;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const ALL = ['shared', 'actors', 'coordinator', 'web'].flatMap(sources);

/** The most specific ALLOWED key that contains `file`. */
function ruleFor(file: string): string {
  const keys = Object.keys(ALLOWED).filter((k) => file === k || file.startsWith(`${k}/`));
  assert.ok(keys.length > 0, `${file} belongs to no folder of the layering table: add it`);
  return keys.sort((a, b) => b.length - a.length)[0]!;
}

function relativeImports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+'(\.[^']+)'/g),
    ...text.matchAll(/import\('(\.[^']+)'\)/g),
    ...text.matchAll(/new URL\('(\.[^']+)'/g),
  ].map((m) => m[1]!);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

test('every folder imports only from the folders it may: dependencies point one way', () => {
  const broken: string[] = [];
  for (const file of ALL) {
    const allowed = ALLOWED[ruleFor(file)]!;
    for (const target of relativeImports(file)) {
      if (!allowed.some((a) => target === a || target.startsWith(`${a}/`))) broken.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('no module imports itself back through others: the import graph has no cycle', () => {
  const graph = new Map(ALL.map((f) => [f, relativeImports(f).filter((t) => ALL.includes(t))]));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    path.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...path.slice(path.indexOf(t)), t].join(' → '));
      else if (!state.has(t)) visit(t);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of ALL) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

test('coordinator/ has at most three files at its top', () => {
  const top = readdirSync(path.join(ROOT, 'coordinator')).filter(
    (f) => statSync(path.join(ROOT, 'coordinator', f)).isFile() && f.endsWith('.ts'),
  );
  assert.ok(top.length <= 3, `coordinator/ holds ${top.join(', ')}`);
});

test(`no source file is over ${MAX_LINES} lines (data tables aside)`, () => {
  const long = [...ALL, ...sources('test'), ...sources('bench')]
    .filter((f) => !DATA_TABLES.has(f))
    .map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8').split('\n').length] as const)
    .filter(([, n]) => n > MAX_LINES);
  assert.deepEqual(long, []);
});

/** The formatter's width (.prettierrc.json): Prettier breaks code there, strings are broken by hand. */
const MAX_WIDTH = 140;

test(`no line is over ${MAX_WIDTH} characters (data tables and URLs aside)`, () => {
  const wide = [...ALL, ...sources('test'), ...sources('bench')]
    .filter((f) => !DATA_TABLES.has(f))
    .flatMap((f) =>
      readFileSync(path.join(ROOT, f), 'utf8')
        .split('\n')
        .map((line, i) => [f, i + 1, line] as const),
    )
    .filter(([, , line]) => line.length > MAX_WIDTH && !/https?:\/\//.test(line))
    .map(([f, n, line]) => `${f}:${n} (${line.length})`);
  assert.deepEqual(wide, []);
});

test('web/ names no route and no close code by hand: both come from shared/', () => {
  const literals: string[] = [];
  for (const file of ALL.filter((f) => f.startsWith('web/'))) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/'\/(?:ws|api\/status|worker\/|model\/|assets\/)[^']*'|\.close\(\s*\d+/g))
      literals.push(`${file}: ${m[0]}`);
  }
  assert.deepEqual(literals, []);
});

test('the shipped pages carry no test hooks; the test build does', async () => {
  const scan = (dir: string): string =>
    readdirSync(path.join(dir, 'assets'))
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(path.join(dir, 'assets', f), 'utf8'))
      .join('\n');
  const shipped = scan(await ensureWebBuild('production'));
  for (const hook of ['__tabpool', 'simulated worker crash', 'holdReady'])
    assert.ok(!shipped.includes(hook), `the default build contains ${hook}`);
  const testBuild = scan(await ensureWebBuild('test'));
  assert.ok(testBuild.includes('__tabpool'), 'the test build lost its hooks');
});
