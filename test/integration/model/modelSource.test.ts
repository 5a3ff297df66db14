import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildResNet } from '../../../coordinator/builtin/resnetBuilder.ts';
import { resolveModel } from '../../../coordinator/model/modelSource.ts';
import { IMAGENET_LABELS } from '../../../shared/imagenetLabels.ts';
import { CACHE_DIR, startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { readRows } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGENET = new Set<string>(IMAGENET_LABELS);

test('the built-in model (seeded weights) labels its classes as bare indices, never ImageNet names', async () => {
  const model = await resolveModel('resnet18-tiny', CACHE_DIR);
  assert.equal(model.builtin, true);
  assert.equal(model.labels, 'index');
});

test('a real 1000-class model passed with --model keeps the ImageNet names', async () => {
  const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-model-')), 'real.onnx');
  await fs.writeFile(file, buildResNet({ variant: 'tiny' }));
  const model = await resolveModel(file, CACHE_DIR);
  assert.equal(model.builtin, false);
  assert.equal(model.labels, 'imagenet');
});

test('a job on the built-in model writes rows with no ImageNet names, and its summary says why once', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-labels-'));
  await writeTestPngs(path.join(dir, 'data'), 6, 32, 32);
  const out = path.join(dir, 'out.jsonl');
  const c = await startCoordinator(jobArgv({ model: 'resnet18-tiny', data: path.join(dir, 'data'), out, batchSize: 2, verify: 0 }));
  await startActors(c.workerUrl, 1, { mode: 'instant' });
  assert.equal(await c.exited, 0, c.stderr());
  const rows = await readRows(out);
  assert.equal(rows.length, 6);
  const labels = rows.flatMap((r) => [r.label!, ...r.topk!.map((e) => e.label)]);
  assert.deepEqual(
    labels.filter((l) => IMAGENET.has(l)),
    [],
  );
  assert.ok(
    labels.every((l) => /^class \d+$/.test(l)),
    labels.join(', '),
  );
  assert.equal(c.stdout().match(/not ImageNet predictions/g)?.length, 1, c.stdout());
});
