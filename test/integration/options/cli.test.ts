/**
 * The command line's own layer, as a person meets it: an unknown flag, a bad value, a dataset that
 * is empty or missing, a model that is not ONNX each end `tabpool run` with exit 2 and the fix on
 * stderr, before any browser starts (--launch 2 would otherwise open Chromium). Every value's check
 * is test/unit/options/runOptions.test.ts, in process; these are the ones only a process shows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-cli-'));
await writeTestPngs(dataDir, 1, 32, 32);
const empty = path.join(dataDir, 'empty');
await fs.mkdir(empty);

const cases: [string, string[], RegExp][] = [
  ['an unknown flag', ['run', ...jobArgv({ launch: 2 }, '--bogus')], /unknown option '--bogus'/],
  ['a pool with MIN > MAX', ['run', ...jobArgv({ launch: 2, pool: '4..2' })], /BAD_ARGUMENT: --pool "4\.\.2" is not valid/],
  ['an empty dataset', ['run', ...jobArgv({ launch: 2, data: empty })], /DATA_EMPTY: --data .*empty has no inputs/],
  ['a missing data path', ['run', ...jobArgv({ launch: 2, data: '/no/such/dir' })], /DATA_NOT_FOUND: --data \/no\/such\/dir/],
  [
    'a model file that is not ONNX',
    ['run', ...jobArgv({ launch: 2, data: dataDir, model: 'package.json' })],
    /MODEL_NOT_ONNX: .*package\.json/,
  ],
];

for (const [what, args, message] of cases) {
  test(`refuses ${what} with exit 2 and a message naming the fix, before any browser starts`, async () => {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /worker page/);
  });
}
