/**
 * No function in coordinator/, web/ or shared/ runs past MAX_FUNCTION_LINES: a function that long is
 * several steps that want names (TabpoolJob.run was 251 lines once). Declaration lists (a command's
 * flags, a schema, a table) and numeric kernels are exempt by name below, each with why. Parsed with
 * TypeScript 6's compiler API (the project builds with TypeScript 7, whose JavaScript API is not
 * stable yet): every function, method, arrow function and accessor is measured, nested ones too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript6';
import { ROOT } from '../../../coordinator/browser/webBuild.ts';

const MAX_FUNCTION_LINES = 100;

/** `file:function`, and why it may be long. */
const EXEMPT: Readonly<Record<string, string>> = {
  'coordinator/cli/runFlags.ts:runCommand': 'a declaration list: every flag of `tabpool run`, one chained call each',
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

function nameOf(node: ts.Node): string {
  const n = (node as { name?: ts.Node }).name;
  if (n && ts.isIdentifier(n)) return n.text;
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    const p = node.parent;
    if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
    if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
    return '(anonymous)';
  }
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

/** Every function-like node of a file, with its name and its length in lines. */
function functions(file: string): { name: string; line: number; lines: number }[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: { name: string; line: number; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ name: nameOf(node), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

test(`no function in coordinator/, web/ or shared/ is over ${MAX_FUNCTION_LINES} lines (declaration lists aside)`, () => {
  const long = ['coordinator', 'web', 'shared']
    .flatMap(sources)
    .flatMap((file) => functions(file).map((f) => ({ ...f, file })))
    .filter((f) => f.lines > MAX_FUNCTION_LINES && !EXEMPT[`${f.file}:${f.name}`])
    .map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`);
  assert.deepEqual(long, []);
});

test('TabpoolJob.run is plan, open the mode, supervise: under 60 lines', () => {
  const run = functions('coordinator/api/tabpoolJob.ts').find((f) => f.name === 'run');
  assert.ok(run, 'TabpoolJob has a run method');
  assert.ok(run.lines < 60, `TabpoolJob.run is ${run.lines} lines`);
});

test('every exemption names a function that exists and is long (an exemption that no longer applies is removed)', () => {
  for (const key of Object.keys(EXEMPT)) {
    const [file, name] = key.split(':') as [string, string];
    const f = functions(file).find((x) => x.name === name);
    assert.ok(f, `${key} is not a function any more`);
    assert.ok(f.lines > MAX_FUNCTION_LINES, `${key} is ${f.lines} lines: drop its exemption`);
  }
});
