/** The worker page's URL parameters, as the page reads them and the CLI and tests write them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readPageParams, workerUrlWith } from '../../../shared/pageParams.ts';
import { prepareWorkerCount, MAX_PREPARE_WORKERS } from '../../../web/page/preparePool.ts';

const read = (url: string) => {
  const q = new URL(url).searchParams;
  return readPageParams((name) => q.get(name));
};

test('declared resources, an EP pin and a preprocessing worker count round-trip through the worker URL', () => {
  const url = workerUrlWith('https://h:1/worker/?token=T', { gpus: 1, cpus: 16, memory: '16GiB', ep: 'webgpu', prepare: 4 });
  const p = read(url);
  assert.deepEqual(p.declared, { gpus: 1, cpus: 16, memoryBytes: 16 * 2 ** 30 });
  assert.equal(p.pinnedEp, 'webgpu');
  assert.equal(p.prepareWorkers, 4);
  assert.equal(p.token, 'T');
  assert.deepEqual(p.warnings, []);
});

test('bad values are ignored with a warning naming the parameter and what it takes', () => {
  const p = read('https://h:1/worker/?token=T&cpus=-1&memory=lots&ep=cuda&prepare=0');
  assert.deepEqual(p.declared, {});
  assert.equal(p.pinnedEp, null);
  assert.equal(p.prepareWorkers, null);
  assert.equal(p.warnings.length, 4);
  assert.match(p.warnings.join('\n'), /prepare=0 is not a whole number from 1 to 32/);
});

test("a tab runs its host's CPUs less one preprocessing workers (at least one, at most the cap), or what the URL asks", () => {
  assert.equal(prepareWorkerCount(1, null), 1);
  assert.equal(prepareWorkerCount(2, null), 1);
  assert.equal(prepareWorkerCount(8, null), 7);
  assert.equal(prepareWorkerCount(64, null), MAX_PREPARE_WORKERS);
  assert.equal(prepareWorkerCount(2, 3), 3);
});
