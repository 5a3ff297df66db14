/**
 * The trusted reference runs the models the tabs run: a model whose batch dimension is fixed (many
 * zoo exports have batch 1) is run in chunks of it, the last one padded, as a tab runs it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { buildResNet } from '../../../coordinator/builtin/resnetBuilder.ts';
import { Reference } from '../../../coordinator/verify/reference.ts';
import { preprocess, preprocessSpecFor } from '../../../shared/preprocess.ts';
import { mulberry32 } from '../../support/testImages.ts';

function png(seed: number): { bytes: Uint8Array; rgba: Uint8Array } {
  const r = mulberry32(seed);
  const img = new PNG({ width: 64, height: 64 });
  for (let i = 0; i < img.data.length; i++) img.data[i] = i % 4 === 3 ? 255 : Math.floor(r() * 256);
  return { bytes: new Uint8Array(PNG.sync.write(img)), rgba: new Uint8Array(img.data) };
}

test('a model with its batch fixed to 1 is checked input by input: five inputs, five answers equal to onnxruntime-node', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-ref-'));
  const modelPath = path.join(dir, 'batch1.onnx');
  await fs.writeFile(modelPath, buildResNet({ variant: 'tiny', batch: 1 }));
  const config = { inputName: 'input', outputName: 'logits', numClasses: 1000, topK: 5, logits: true, labels: 'index', fixedBatch: 1 };
  const reference = new Reference({
    actor: { kind: 'builtin' },
    files: [{ name: 'model', path: modelPath }],
    config,
    kind: { inputs: 'image', preprocess: preprocessSpecFor(64, 64), exifTranspose: false },
    threads: 1,
  });
  try {
    const images = [1, 2, 3, 4, 5].map(png);
    const rows = await reference.rows(images.map((img, i) => ({ id: `i${i}`, bytes: img.bytes })));
    assert.equal(rows.length, 5);
    const session = await ort.InferenceSession.create(modelPath);
    for (const [i, img] of images.entries()) {
      const t = preprocess({ width: 64, height: 64, channels: 4, data: img.rgba }, preprocessSpecFor(64, 64));
      const logits = (await session.run({ input: new ort.Tensor('float32', t, [1, 3, 64, 64]) })).logits!.data as Float32Array;
      const row = rows[i]!;
      assert.ok(row, `input ${i} has no answer`);
      const got = row.logits as number[];
      for (let c = 0; c < 1000; c++)
        assert.ok(Math.abs(got[c]! - logits[c]!) <= 1e-5 * Math.max(1, Math.abs(logits[c]!)), `input ${i} class ${c}`);
    }
  } finally {
    await reference.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
