/**
 * The tests' argv builder (test/support/jobArgv.ts) spells every flag as the CLI declares it: each
 * option of `run`, `gateway` and `serve`, by commander's own key for it, is the declared long flag.
 * And what it builds: bare flags for true, nothing for false, a repeated flag for a list, numbers as
 * text, bad values let through, the caller's order kept, nothing added.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayCommand } from '../../../coordinator/cli/gatewayCommand.ts';
import { runCommand } from '../../../coordinator/cli/runFlags.ts';
import { serveCommand } from '../../../coordinator/cli/serveCommand.ts';
import { flagName, jobArgv } from '../../support/jobArgv.ts';

for (const command of [runCommand(), gatewayCommand(), serveCommand()]) {
  test(`every flag of tabpool ${command.name()} is its option key in kebab case`, () => {
    for (const option of command.options) assert.equal(flagName(option.attributeName()), option.long);
  });
}

test('jobArgv: key order, bare and omitted flags, lists repeated, numbers and bad values as text, extra last', () => {
  assert.deepEqual(
    jobArgv(
      { model: ['cls=a.onnx', 'rec=b.onnx'], maxTasksInFlight: 1, verify: 0.05, logits: true, resume: false, pool: '4..2', out: undefined },
      '--bogus',
    ),
    [
      '--model',
      'cls=a.onnx',
      '--model',
      'rec=b.onnx',
      '--max-tasks-in-flight',
      '1',
      '--verify',
      '0.05',
      '--logits',
      '--pool',
      '4..2',
      '--bogus',
    ],
  );
  assert.deepEqual(jobArgv({}), []);
});
