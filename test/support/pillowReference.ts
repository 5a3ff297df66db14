/**
 * A CPU reference that owes nothing to this project's preprocessing: Pillow itself decodes,
 * resizes and crops each image as torchvision's ImageNet recipe does (test/support/pillowPreprocess.py),
 * and onnxruntime-node runs the model on those tensors; with `exifTranspose`, each image is first
 * turned upright by Pillow's ImageOps.exif_transpose. Needs Debian's python3-pil for /usr/bin/python3
 * (or TABPOOL_PILLOW_PYTHON).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { inspectModel } from '../../coordinator/model/modelInfo.ts';
import { preprocessSpecFor } from '../../shared/preprocess.ts';
import type { ReferencePrediction } from './reference.ts';

const PYTHON = process.env.TABPOOL_PILLOW_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./pillowPreprocess.py', import.meta.url));

export async function pillowPredictions(
  modelPath: string,
  files: { id: string; path: string }[],
  o: { exifTranspose?: boolean } = {},
): Promise<Map<string, ReferencePrediction>> {
  const bytes = await fs.readFile(modelPath);
  const info = inspectModel(bytes, modelPath);
  const spec = preprocessSpecFor(info.inputShape.height, info.inputShape.width);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-pillow-ref-'));
  try {
    const manifest = files.map((f, i) => ({
      png: f.path,
      out: path.join(dir, String(i)),
      height: spec.height,
      width: spec.width,
      resize: spec.resizeShorter,
      exif_transpose: o.exifTranspose === true,
      mean: spec.mean,
      std: spec.std,
    }));
    await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    await promisify(execFile)(PYTHON, [SCRIPT, path.join(dir, 'manifest.json')], { maxBuffer: 1 << 24, timeout: 300_000 }).catch(
      (err: Error) => {
        throw new Error(`Pillow's preprocessing failed (install python3-pil, or set TABPOOL_PILLOW_PYTHON): ${err.message}`);
      },
    );
    const session = await ort.InferenceSession.create(bytes);
    const out = new Map<string, ReferencePrediction>();
    for (const [i, f] of files.entries()) {
      const raw = await fs.readFile(`${manifest[i]!.out}.f32`);
      const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const result = await session.run({ [info.inputName]: new ort.Tensor('float32', input, [1, 3, spec.height, spec.width]) });
      const logits = Float32Array.from(result[info.outputName]!.data as Float32Array);
      let top1 = 0;
      for (let k = 1; k < logits.length; k++) if (logits[k]! > logits[top1]!) top1 = k;
      let second = -Infinity;
      for (let k = 0; k < logits.length; k++) if (k !== top1 && logits[k]! > second) second = logits[k]!;
      out.set(f.id, { top1, margin: logits[top1]! - second, logits });
    }
    await session.release();
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
