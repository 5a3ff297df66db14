/**
 * The exact id set (coordinator/io/idSet.ts) keeps a million 32-byte ids in less memory than a
 * Set<string> of the same ids, measured in the same run: each in a process of its own
 * (bench/idSetMemory.ts, the heap and array buffers between two full collections).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../../support/coordinatorProcess.ts';

async function measure(kind: 'idset' | 'set'): Promise<number> {
  const script = path.join(ROOT, 'bench', 'idSetMemory.ts');
  const argv = ['--expose-gc', '--import', 'tsx', script, kind, '1000000'];
  const { stdout } = await promisify(execFile)(process.execPath, argv, { cwd: ROOT });
  return (JSON.parse(stdout) as { bytes: number }).bytes;
}

test('a million ids take under four fifths of what a Set<string> of them takes, measured side by side', async () => {
  const [ours, set] = [await measure('idset'), await measure('set')];
  process.stdout.write(`# IdSet ${(ours / 1e6).toFixed(1)} MB, Set<string> ${(set / 1e6).toFixed(1)} MB for a million 32-byte ids\n`);
  assert.ok(ours < 0.8 * set, `IdSet ${(ours / 1e6).toFixed(1)} MB against Set<string> ${(set / 1e6).toFixed(1)} MB`);
});
