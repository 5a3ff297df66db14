import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { readRows } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

test('a manifest that repeats an id gets one row for it, says so, and still finishes', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-dup-'));
  const files = await writeTestPngs(dir, 3, 32, 32);
  const manifest = path.join(dir, 'm.txt');
  await fs.writeFile(manifest, [files[0]!.id, files[1]!.id, files[0]!.id, files[2]!.id].join('\n') + '\n');
  const out = path.join(dir, 'out.jsonl');
  const c = await startCoordinator(jobArgv({ model: 'resnet18-tiny', data: manifest, out, batchSize: 2, verify: 0 }));
  await startActors(c.workerUrl, 1, { mode: 'instant' });
  assert.equal(await c.exited, 0, c.stderr());
  assert.match(c.stderr(), /input id t000\.png appears twice in the dataset; the second is skipped/);
  assert.deepEqual((await readRows(out)).map((r) => r.id).sort(), ['t000.png', 't001.png', 't002.png']);
});
