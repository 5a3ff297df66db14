/**
 * A job's options are checked before anything starts, in this process (options/runOptions.ts: the
 * CLI's flags and the API's options go through it alike): each bad value is refused with BAD_ARGUMENT
 * and a message naming the flag, the value and the fix; flags the chosen mode would ignore are
 * refused rather than quietly doing less. The CLI's own layer (an unknown flag, exit 2, no browser)
 * is test/integration/options/cli.test.ts; what is wrong with the data or the model is planning's
 * (planJob), tested there too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCommand } from '../../../coordinator/cli/runFlags.ts';
import { RUN_DEFAULTS, type RawRunOptions } from '../../../coordinator/options/rawOptions.ts';
import { parseRunOptions } from '../../../coordinator/options/runOptions.ts';
import { TabpoolError } from '../../../shared/errors.ts';

/** The options as `tabpool run` with these flags gives them (commander's own parsing, no process). */
function flags(argv: string[]): RawRunOptions {
  return runCommand().exitOverride().parse(argv, { from: 'user' }).opts();
}

const cases: [string, string[], RegExp][] = [
  ['a pool with MIN > MAX', ['--pool', '4..2'], /--pool "4\.\.2" is not valid: expected MIN\.\.MAX with MIN ≤ MAX/],
  ['a batch size of zero', ['--batch-size', '0'], /--batch-size "0" is not valid/],
  ['an unknown EP', ['--ep', 'cuda'], /--ep "cuda" is not valid: expected auto, webgpu or wasm/],
  ['a bad memory size', ['--memory', 'lots'], /--memory "lots" is not valid/],
  ['an output that is neither .jsonl, .csv nor .parquet', ['--out', 'x.xlsx'], /--out "x\.xlsx" is not valid/],
  ['a GPU budget over 1', ['--num-gpus', '2'], /--num-gpus 2: a tab drives one WebGPU adapter/],
  ['--rows-per-part without a .parquet output', ['--out', 'x.csv', '--rows-per-part', '10'], /--rows-per-part sizes the part files/],
  ['--resume with --overwrite', ['--resume', '--overwrite'], /--resume finishes the output that is there, --overwrite replaces it/],
  ['--allow-software-gpu with --ep wasm', ['--ep', 'wasm', '--allow-software-gpu'], /--ep wasm uses none/],
  ['a stall timeout that is not a duration', ['--stall-timeout', 'soon'], /--stall-timeout "soon" is not valid: expected a duration/],
  [
    'a --recycle-above that is no size',
    ['--recycle-above', 'big'],
    /--recycle-above "big" is not valid: expected a size of at least 64MiB/,
  ],
  ['a --recycle-above too small to hold a model', ['--recycle-above', '1MiB'], /--recycle-above "1MiB" is not valid/],
  ['--tls with another mode', ['--tls', 'letsencrypt'], /argument 'letsencrypt' is invalid|--tls "letsencrypt" is not valid/],
  ['--tls-cert without --tls-key', ['--tls-cert', 'c.pem'], /TLS needs both --tls-cert and --tls-key/],
  ['a token too short to guess', ['--token', 'abc'], /--token "abc" is not valid: expected 16 to 128 characters/],
  ['--job without --queue', ['--job', 'x'], /--job needs --queue/],
  ['--weight without --on', ['--weight', '2'], /--submit-token, --weight and --priority are for a job on a standing pool/],
  ['--top-k with --actor', ['--actor', 'a.ts', '--top-k', '3'], /--top-k shapes the built-in classifier's rows/],
  [
    '--actor-config that is not JSON',
    ['--actor', 'a.ts', '--actor-config', '{nope'],
    /--actor-config "\{nope" is not valid: expected JSON/,
  ],
];

for (const [what, argv, message] of cases) {
  test(`refuses ${what}, naming the flag and the fix`, () => {
    assert.throws(
      () => parseRunOptions(flags(argv)),
      (e: unknown) => {
        // commander refuses a choice itself (a CommanderError); everything else is ours, BAD_ARGUMENT.
        if (!(e instanceof TabpoolError)) return /invalid/.test((e as Error).message) && message.test((e as Error).message);
        assert.equal(e.code, 'BAD_ARGUMENT');
        assert.match(e.message, message);
        return true;
      },
    );
  });
}

test('the flags, their defaults and the raw options the API starts from are one declaration', () => {
  const defaults = runCommand().opts();
  for (const [name, value] of Object.entries(RUN_DEFAULTS)) assert.deepEqual(defaults[name as keyof typeof defaults], value, `--${name}`);
  const parsed = parseRunOptions(flags([]));
  assert.equal(parsed.pool.max, 8);
  assert.equal(parsed.verifyRate, 0.05);
  assert.deepEqual(parsed.models, []);
  assert.equal(parsed.exifTranspose, false);
});

test('--model repeats: each value kept in order, NAME=PATH as given', () => {
  const parsed = parseRunOptions(flags(['--model', 'cls=a.onnx', '--model', 'rec=b.onnx', '--model', 'dir/']));
  assert.deepEqual(parsed.models, ['cls=a.onnx', 'rec=b.onnx', 'dir/']);
  assert.equal(parseRunOptions(flags(['--exif-transpose'])).exifTranspose, true);
  assert.equal(parseRunOptions(flags(['--recycle-above', '3GiB'])).recycle.aboveBytes, 3 * 2 ** 30);
});
