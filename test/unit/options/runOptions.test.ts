import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../support/coordinatorProcess.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-cli-'));
await writeTestPngs(dataDir, 1, 32, 32);

// Each of these must fail before any browser starts: --launch 2 would otherwise open Chromium.
const cases: [string, string[], RegExp][] = [
  ['an unknown flag', ['run', '--launch', '2', '--bogus'], /unknown option '--bogus'/],
  ['a pool with MIN > MAX', ['run', '--launch', '2', '--pool', '4..2'], /--pool "4\.\.2" is not valid: expected MIN\.\.MAX with MIN ≤ MAX/],
  ['a batch size of zero', ['run', '--launch', '2', '--batch-size', '0'], /--batch-size "0" is not valid/],
  ['an unknown EP', ['run', '--launch', '2', '--ep', 'cuda'], /--ep "cuda" is not valid: expected auto, webgpu or wasm/],
  ['a bad memory size', ['run', '--launch', '2', '--memory', 'lots'], /--memory "lots" is not valid/],
  ['an output that is neither .jsonl nor .csv', ['run', '--launch', '2', '--out', 'x.xlsx'], /--out "x\.xlsx" is not valid/],
  ['a GPU budget over 1', ['run', '--launch', '2', '--num-gpus', '2'], /--num-gpus 2: a tab drives one WebGPU adapter/],
  ['an empty dataset', ['run', '--launch', '2', '--data', path.join(dataDir, 'empty')], /DATA_NOT_FOUND|DATA_EMPTY/],
  ['a missing data path', ['run', '--launch', '2', '--data', '/no/such/dir'], /DATA_NOT_FOUND: --data \/no\/such\/dir/],
  [
    '--rows-per-part without a .parquet output',
    ['run', '--launch', '2', '--out', 'x.csv', '--rows-per-part', '10'],
    /--rows-per-part sizes the part files of a \.parquet output/,
  ],
  [
    '--resume with --overwrite',
    ['run', '--launch', '2', '--resume', '--overwrite'],
    /--resume finishes the output that is there, --overwrite replaces it/,
  ],
  ['--allow-software-gpu with --ep wasm', ['run', '--launch', '2', '--ep', 'wasm', '--allow-software-gpu'], /--ep wasm uses none/],
  [
    'a stall timeout that is not a duration',
    ['run', '--launch', '2', '--stall-timeout', 'soon'],
    /--stall-timeout "soon" is not valid: expected a duration/,
  ],
  [
    'a model file that is not ONNX',
    ['run', '--launch', '2', '--data', dataDir, '--model', 'package.json'],
    /MODEL_NOT_ONNX: .*package\.json/,
  ],
];

for (const [what, args, message] of cases) {
  test(`refuses ${what} with exit 2 and a message naming the fix`, async () => {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /worker page/);
  });
}
