/**
 * A bad actor module fails before any browser starts, exit 2, naming the file and the fault, in
 * seconds: missing, a syntax error, no default class, no init or call, a bad outputs declaration,
 * inputs that do not match the dataset, an init or a call that throws on every input the dry run
 * tries (in Node). An input that is merely bad, placed first, is not a bad class: the job runs, and
 * that input gets its ACTOR_ERROR row.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-actors-'));
const images = path.join(dir, 'images');
await writeTestPngs(images, 2, 32, 32);
const records = path.join(dir, 'records.jsonl');
await fs.writeFile(records, '{"id":"r1","x":1}\n');

const good = `export default class A {
  static inputs = 'image';
  static outputs = { n: 'int32' };
  async init() {}
  async call(b) { return b.ids.map(() => ({ n: 1 })); }
}`;

async function module(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

const cases: [string, () => Promise<string>, RegExp, string?][] = [
  ['a module that does not exist', async () => path.join(dir, 'nope.ts'), /BAD_ACTOR: --actor .*nope\.ts: no such file/],
  ['a syntax error', () => module('syntax.ts', 'export default class A { call( {'), /BAD_ACTOR: --actor .*syntax\.ts: does not compile/],
  ['no default export', () => module('nodefault.ts', 'export class A {}'), /BAD_ACTOR: --actor .*nodefault\.ts: has no default export/],
  ['a default export that is no class', () => module('notclass.ts', 'export default 42;'), /its default export is number, not a class/],
  ['no call method', () => module('nocall.ts', good.replace(/async call[^\n]*\n/, '')), /class A has no call method/],
  ['no init method', () => module('noinit.ts', good.replace('async init() {}', '')), /class A has no init method/],
  [
    'a bad outputs declaration',
    () => module('outputs.ts', good.replace("{ n: 'int32' }", "{ n: 'float16' }")),
    /static outputs: column n: unknown type "float16"/,
  ],
  [
    'inputs that are neither image, record nor file',
    () => module('inputs.ts', good.replace("'image'", "'audio'")),
    /static inputs must be 'image' .*, 'record' .* or 'file' .*; got "audio"/,
  ],
  [
    'a records actor on a folder of images',
    () => module('records.ts', good.replace("'image'", "'record'")),
    /the actor reads records .*static inputs = 'image'/,
    images,
  ],
  [
    'an image actor on a records file',
    () => module('images.ts', good),
    /BAD_MANIFEST: .*records\.jsonl:1 has no "path" or "url" string; if these rows are records, .*static inputs = 'record'/,
    records,
  ],
  [
    'an init that throws',
    () => module('initthrows.ts', good.replace('async init() {}', "async init() { throw new Error('no weights'); }")),
    /its init failed in the dry run .*: no weights/,
  ],
  [
    'a call that throws',
    () => module('callthrows.ts', good.replace('return b.ids.map(() => ({ n: 1 }));', "throw new Error('bad input');")),
    /its call failed in the dry run on every one of the 2 inputs tried \(\S+\.png: bad input; \S+\.png: bad input\)/,
  ],
  [
    'rows of the wrong shape',
    () => module('shape.ts', good.replace('({ n: 1 })', "({ n: 'one' })")),
    /failed in the dry run on every one of the 2 inputs tried \(.*: the row for .*: column n: expected a number \(int32\)/,
  ],
];

for (const [what, make, message, data] of cases) {
  test(`refuses ${what}: exit 2 before any browser starts, naming the file and the fault`, async () => {
    const started = Date.now();
    const r = await runCli([
      'run',
      ...jobArgv({ launch: 2, actor: await make(), data: data ?? images, out: path.join(dir, 'out.jsonl'), overwrite: true }),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /worker page/);
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  });
}

test("--top-k and --logits are the built-in classifier's: refused with --actor", async () => {
  const r = await runCli(['run', ...jobArgv({ launch: 2, actor: await module('ok.ts', good), data: images, logits: true })]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--logits shapes the built-in classifier's rows/);
});

test('--actor-config that is not JSON is refused, naming it', async () => {
  const r = await runCli(['run', ...jobArgv({ launch: 2, actor: await module('ok2.ts', good), data: images, actorConfig: '{nope' })]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--actor-config "\{nope" is not valid: expected JSON/);
});

const poisonFirst = `export default class P {
  static inputs = 'record';
  static outputs = { n: 'int32' };
  async init() {}
  async call(b) {
    return b.records.map((r) => {
      if (r.id === 'r0000') throw new Error('record r0000 is poison');
      return { n: r.x * 2 };
    });
  }
}`;

test('a record the actor rejects, placed first, is one ACTOR_ERROR row: the job runs on and finishes, exit 3', async () => {
  const data = path.join(dir, 'poison.jsonl');
  await fs.writeFile(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `r${String(i).padStart(4, '0')}`, x: i })).join('\n'));
  const out = path.join(dir, 'poison-out.jsonl');
  const c = await startCoordinator(jobArgv({ actor: await module('poison.ts', poisonFirst), data, out, batchSize: 4 }));
  try {
    const actors = await startActors(c.workerUrl, 1, { mode: 'real' });
    assert.equal(await c.exited, 3, c.stderr());
    await actors.closed;
    assert.match(c.stderr(), /dry run on r0001: init and call passed.*it failed first on 1 input.*r0000: record r0000 is poison/);
    const rows = (await fs.readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; n: number | null; error: { code: string; message: string } | null });
    assert.equal(rows.length, 12);
    const bad = rows.filter((r) => r.error);
    assert.deepEqual(
      bad.map((r) => [r.id, r.error!.code]),
      [['r0000', 'ACTOR_ERROR']],
    );
    assert.match(bad[0]!.error!.message, /record r0000 is poison/);
    for (const r of rows.filter((x) => !x.error)) assert.equal(r.n, Number(r.id.slice(1)) * 2, r.id);
  } finally {
    c.kill('SIGKILL');
  }
});
