/**
 * The built-in records model (`--model scorer`): a small MLP scoring numeric feature vectors,
 * `features` [batch, 8] → Gemm(16) → Relu → Gemm(1) → Sigmoid → `score` [batch, 1], with seeded
 * weights (not trained: the score is a deterministic function of the features, for examples and
 * tests). Built on first use into `<cacheDir>/models/scorer.onnx`, the same bytes on every machine.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeModel, floatAttr, floatTensor, floatValueInfo, intAttr, irVersionForOpset, node } from './onnxGraph.ts';
import { Prng } from './prng.ts';

export const SCORER_FEATURES = 8;
const HIDDEN = 16;
const OPSET = 17;

function weights(r: Prng, n: number, bound: number): Float32Array {
  return Float32Array.from({ length: n }, () => (r.uniform() * 2 - 1) * bound);
}

export function buildScorer(): Uint8Array {
  const r = new Prng(0x5c0e, 1);
  const gemm = (name: string, input: string, output: string, inDim: number, outDim: number) => ({
    initializers: [
      floatTensor(`${name}.weight`, [outDim, inDim], weights(r, inDim * outDim, 1 / Math.sqrt(inDim))),
      floatTensor(`${name}.bias`, [outDim], weights(r, outDim, 0.1)),
    ],
    node: node(
      'Gemm',
      `/${name}/Gemm`,
      [input, `${name}.weight`, `${name}.bias`],
      [output],
      [floatAttr('alpha', 1), floatAttr('beta', 1), intAttr('transB', 1)],
    ),
  });
  const l1 = gemm('fc1', 'features', '/fc1/out', SCORER_FEATURES, HIDDEN);
  const l2 = gemm('fc2', '/relu/out', '/fc2/out', HIDDEN, 1);
  return encodeModel({
    irVersion: irVersionForOpset(OPSET),
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'tabpool',
    modelVersion: 1,
    docString: 'A seeded 8-16-1 MLP scoring feature vectors (sigmoid output); not trained.',
    graph: {
      name: 'scorer',
      node: [
        l1.node,
        node('Relu', '/relu/Relu', ['/fc1/out'], ['/relu/out']),
        l2.node,
        node('Sigmoid', '/sigmoid', ['/fc2/out'], ['score']),
      ],
      initializer: [...l1.initializers, ...l2.initializers],
      input: [floatValueInfo('features', ['batch', SCORER_FEATURES])],
      output: [floatValueInfo('score', ['batch', 1])],
    },
  });
}

/** Builds the scorer into the cache once (written whole, then renamed) and returns its path. */
export async function ensureScorer(cacheDir: string): Promise<{ path: string; sha256: string }> {
  const path = join(cacheDir, 'models', 'scorer.onnx');
  const bytes = buildScorer();
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const existing = await readFile(path).catch(() => null);
  if (existing && createHash('sha256').update(existing).digest('hex') === sha256) return { path, sha256 };
  await mkdir(join(cacheDir, 'models'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return { path, sha256 };
}
