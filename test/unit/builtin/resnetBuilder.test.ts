import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { decodeModel } from '../../../coordinator/builtin/onnxGraph.ts';
import {
  buildResNet,
  builtinModelPath,
  encodeResNet,
  ensureBuiltinModel,
  sha256Hex,
  type BuildResNetOptions,
} from '../../../coordinator/builtin/resnetBuilder.ts';
import { parameterCount, resnetTopology } from '../../../coordinator/builtin/resnetTopology.ts';
import { computeWeights } from '../../../coordinator/builtin/resnetWeights.ts';
import { ensureSampleDataset, SAMPLE_COUNT } from '../../../coordinator/builtin/sampleImages.ts';
import { preprocess, preprocessSpecFor } from '../../../shared/preprocess.ts';
import { decodeImage } from '../../support/nodeDecode.ts';

/**
 * The built-in models' SHA-256 with default options. The bytes must not depend on the machine or
 * the Node version; when they change on purpose (new weights, new sample images, a change to
 * coordinator/builtin/calibrationPreprocess.ts), update these and bump BUILTIN_MODEL_VERSION.
 */
const EXPECTED_SHA256 = {
  resnet18: '3e218da4544d27aef2974019b7f17c2539c6d2341334f1226fe726718f80e565',
  tiny: 'c0fc0d89f277596aba59578a43bcaacaa83035fecc4a8d8000206279dc5e629d',
};

const PLAIN_OPS = new Set(['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm']);

const scratch = await mkdtemp(join(tmpdir(), 'tabpool-resnet-'));
after(() => rm(scratch, { recursive: true, force: true }));

/** Deterministic pseudo-random input in roughly the range of normalised images. */
function input(batch: number, size: number, seed = 1): Float32Array {
  const out = new Float32Array(batch * 3 * size * size);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 4294967296) * 4 - 2;
  }
  return out;
}

async function run(model: Uint8Array, data: Float32Array, dims: number[], options: BuildResNetOptions = {}): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(model);
  try {
    const feeds = { [options.inputName ?? 'input']: new ort.Tensor('float32', data, dims) };
    const out = await session.run(feeds);
    const logits = out[options.outputName ?? 'logits'];
    assert.ok(logits, 'the output is named as asked');
    return logits;
  } finally {
    await session.release();
  }
}

type ValueInfo = onnxProto.onnx.IValueInfoProto;

/** The decoded graph's lists, empty where protobuf left them out. */
function graphOf(model: Uint8Array) {
  const graph = decodeModel(model).graph;
  assert.ok(graph, 'the model has a graph');
  return {
    nodes: (graph.node ?? []).map((n) => ({ opType: n.opType ?? '', name: n.name ?? '' })),
    initializers: (graph.initializer ?? []).map((t) => ({ name: t.name ?? '', dims: (t.dims ?? []).map(Number) })),
    inputs: graph.input ?? [],
    outputs: graph.output ?? [],
  };
}

function dimsOf(v: ValueInfo): Array<number | string> {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
}

function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (values[offset + j]! > values[offset + best]!) best = j;
  return best;
}

test('has exactly 11,689,512 parameters, counted the torchvision way', () => {
  assert.equal(parameterCount(resnetTopology('resnet18')), 11_689_512);
  let count = 0;
  for (const t of graphOf(buildResNet()).initializers) {
    if (t.name.endsWith('.running_mean') || t.name.endsWith('.running_var')) continue;
    count += t.dims.reduce((a, d) => a * d, 1);
  }
  assert.equal(count, 11_689_512);
});

test('follows the torchvision ResNet-18 topology with plain operators only', () => {
  const model = buildResNet();
  const graph = graphOf(model);
  const ops = graph.nodes.map((n) => n.opType);
  assert.ok(
    ops.every((op) => PLAIN_OPS.has(op)),
    `unexpected operators: ${ops.filter((op) => !PLAIN_OPS.has(op)).join(', ')}`,
  );
  const count = (op: string): number => ops.filter((o) => o === op).length;
  assert.deepEqual(
    {
      Conv: count('Conv'),
      BatchNormalization: count('BatchNormalization'),
      Relu: count('Relu'),
      Add: count('Add'),
      MaxPool: count('MaxPool'),
      Gemm: count('Gemm'),
    },
    { Conv: 20, BatchNormalization: 20, Relu: 17, Add: 8, MaxPool: 1, Gemm: 1 },
  );
  const dims = (name: string): number[] | undefined => graph.initializers.find((t) => t.name === name)?.dims;
  assert.deepEqual(dims('conv1.weight'), [64, 3, 7, 7]);
  assert.deepEqual(dims('layer1.1.conv2.weight'), [64, 64, 3, 3]);
  assert.deepEqual(dims('layer4.0.downsample.0.weight'), [512, 256, 1, 1]);
  assert.deepEqual(dims('fc.weight'), [1000, 512]);
  assert.equal(decodeModel(model).producerName, 'tabpool');
});

test('declares float32 input [batch, 3, 224, 224] and output [batch, 1000] with a symbolic batch', () => {
  const { inputs, outputs } = graphOf(buildResNet());
  assert.deepEqual(
    inputs.map((v) => v.name),
    ['input'],
  );
  assert.equal(inputs[0]?.type?.tensorType?.elemType, 1);
  assert.deepEqual(dimsOf(inputs[0]!), ['batch', 3, 224, 224]);
  assert.deepEqual(
    outputs.map((v) => v.name),
    ['logits'],
  );
  assert.equal(outputs[0]?.type?.tensorType?.elemType, 1);
  assert.deepEqual(dimsOf(outputs[0]!), ['batch', 1000]);
});

test('builds the same bytes every time, matching the pinned SHA-256', () => {
  const first = buildResNet();
  const second = buildResNet();
  assert.equal(sha256Hex(first), sha256Hex(second));
  assert.equal(sha256Hex(first), EXPECTED_SHA256.resnet18);
  assert.equal(sha256Hex(buildResNet({ variant: 'tiny' })), EXPECTED_SHA256.tiny);
  // Recomputing the weights from scratch (not the per-process memo) gives the same model.
  assert.equal(sha256Hex(encodeResNet(computeWeights('tiny'), { variant: 'tiny' })), EXPECTED_SHA256.tiny);
});

for (const opset of [11, 13, 17]) {
  test(`loads at opset ${opset} in onnxruntime-node and gives [N, 1000] for N = 1 and 3`, async () => {
    const options = opset === 13 ? { opset, inputName: 'pixels', outputName: 'scores' } : { opset };
    const model = buildResNet(options);
    assert.deepEqual(
      decodeModel(model).opsetImport?.map((o) => Number(o.version)),
      [opset],
    );
    for (const n of [1, 3]) {
      const logits = await run(model, input(n, 224), [n, 3, 224, 224], options);
      assert.deepEqual(logits.dims, [n, 1000]);
      assert.ok((logits.data as Float32Array).every(Number.isFinite));
    }
  });
}

test('folding BatchNormalization into the convolutions keeps the logits within 1e-4', async () => {
  const data = input(2, 224, 7);
  const kept = (await run(buildResNet(), data, [2, 3, 224, 224])).data as Float32Array;
  const foldedModel = buildResNet({ keepBatchNorm: false });
  assert.ok(!graphOf(foldedModel).nodes.some((n) => n.opType === 'BatchNormalization'));
  const folded = (await run(foldedModel, data, [2, 3, 224, 224])).data as Float32Array;
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < kept.length; i++) {
    scale = Math.max(scale, Math.abs(kept[i]!));
    worst = Math.max(worst, Math.abs(kept[i]! - folded[i]!));
  }
  assert.ok(worst <= 1e-4 * scale, `max difference ${worst} against max |logit| ${scale}`);
});

test('the tiny variant loads and runs on [2, 3, 64, 64]', async () => {
  const model = buildResNet({ variant: 'tiny' });
  const logits = await run(model, input(2, 64), [2, 3, 64, 64]);
  assert.deepEqual(logits.dims, [2, 1000]);
});

test('rejects an opset outside 11..21 and clashing tensor names', () => {
  assert.throws(() => buildResNet({ opset: 10 }), RangeError);
  assert.throws(() => buildResNet({ opset: 22 }), RangeError);
  assert.throws(() => buildResNet({ inputName: 'x', outputName: 'x' }), TypeError);
});

test('top-1 follows the image: at least 50 distinct classes over the 256 sample images', async (t) => {
  const dir = await ensureSampleDataset(scratch);
  const files: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
  }
  files.sort();
  assert.equal(files.length, SAMPLE_COUNT);
  const session = await ort.InferenceSession.create(buildResNet());
  const spec = preprocessSpecFor(224, 224);
  const plane = 3 * 224 * 224;
  const batch = 16;
  const counts = new Map<number, number>();
  try {
    for (let start = 0; start < files.length; start += batch) {
      const chunk = files.slice(start, start + batch);
      const data = new Float32Array(chunk.length * plane);
      for (const [k, file] of chunk.entries()) data.set(preprocess(decodeImage(await readFile(file)), spec), k * plane);
      const out = await session.run({ input: new ort.Tensor('float32', data, [chunk.length, 3, 224, 224]) });
      const logits = out.logits!.data as Float32Array;
      for (let k = 0; k < chunk.length; k++) {
        const top = argmax(logits, k * 1000, 1000);
        counts.set(top, (counts.get(top) ?? 0) + 1);
      }
    }
  } finally {
    await session.release();
  }
  const largest = Math.max(...counts.values());
  t.diagnostic(`${counts.size} distinct top-1 classes; the most frequent covers ${largest} images`);
  assert.ok(counts.size >= 50, `${counts.size} distinct top-1 classes (largest class has ${largest} images)`);
});

test('ensureBuiltinModel writes the model once, atomically, then reuses it', async () => {
  const cache = join(scratch, 'cache');
  const first = await ensureBuiltinModel(cache, 'tiny');
  assert.equal(first.path, builtinModelPath(cache, 'tiny'));
  assert.equal(first.path, join(cache, 'models', 'tiny.onnx'));
  assert.equal(first.sha256, EXPECTED_SHA256.tiny);
  assert.equal(sha256Hex(await readFile(first.path)), first.sha256);
  const written = (await stat(first.path)).mtimeMs;
  const second = await ensureBuiltinModel(cache, 'tiny');
  assert.deepEqual(second, first);
  assert.equal((await stat(first.path)).mtimeMs, written);
  assert.deepEqual(await readdir(join(cache, 'models')), ['tiny.onnx']);
});

test('ensureBuiltinModel replaces a cached file that is corrupt or from another version', async () => {
  const cache = join(scratch, 'stale');
  const path = builtinModelPath(cache, 'tiny');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, 'not a model');
  assert.equal((await ensureBuiltinModel(cache, 'tiny')).sha256, EXPECTED_SHA256.tiny);
  const old = decodeModel(await readFile(path));
  old.modelVersion = Number(old.modelVersion) - 1;
  await writeFile(path, onnxProto.onnx.ModelProto.encode(old).finish());
  assert.equal((await ensureBuiltinModel(cache, 'tiny')).sha256, EXPECTED_SHA256.tiny);
  assert.equal(sha256Hex(await readFile(path)), EXPECTED_SHA256.tiny);
});
