/**
 * The built-in model: torchvision's ResNet-18 topology as ONNX, with deterministic synthetic
 * weights (see resnetWeights.ts), so tabpool runs without downloading anything. It is not trained:
 * its classes are not ImageNet's, but its top-1 does change with the picture, and it costs what a
 * real ResNet-18 costs to run. The same options give the same bytes on every machine.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodeModel,
  encodeModel,
  floatAttr,
  floatTensor,
  floatValueInfo,
  intAttr,
  intsAttr,
  irVersionForOpset,
  node,
  type NodeProto,
  type TensorProto,
} from './onnxGraph.ts';
import { BN_EPSILON, resnetTopology, type ConvBn, type ResNetVariant } from './resnetTopology.ts';
import { builtinWeights, tensor, type ResNetWeights } from './resnetWeights.ts';

export interface BuildResNetOptions {
  /** `resnet18` (default): 224×224 input, 11,689,512 parameters. `tiny`: widths 8/16/32/64, 64×64 input. */
  variant?: ResNetVariant;
  /** Graph input name; default `input`. Its shape is [batch, 3, size, size], float32. */
  inputName?: string;
  /** Graph output name; default `logits`. Its shape is [batch, 1000]. */
  outputName?: string;
  /** Keep BatchNormalization nodes (default) or fold them into the convolutions, as torch's export does. */
  keepBatchNorm?: boolean;
  /** ONNX opset, 11..21; default 17. */
  opset?: number;
  /** A fixed batch dimension (many zoo exports have 1); default symbolic (`batch`). */
  batch?: number;
  /** End at the pooled features ([batch, 512] for resnet18) instead of the classes: an embeddings model. */
  features?: boolean;
}

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 11;
export const MAX_OPSET = 21;

/** The symbolic batch dimension of the input and output. */
export const BATCH_DIM = 'batch';

/** Bumped whenever the built-in model's bytes change on purpose. */
const BUILTIN_MODEL_VERSION = 1;

interface Emitter {
  nodes: NodeProto[];
  initializers: TensorProto[];
  w: ResNetWeights;
  keepBatchNorm: boolean;
}

function shapeOf(layer: ConvBn): number[] {
  return [layer.outChannels, layer.inChannels, layer.kernel, layer.kernel];
}

/** Conv (+ BatchNormalization, or folded into the conv's weight and bias); returns the output name. */
function emitConvBn(e: Emitter, layer: ConvBn, input: string): string {
  const convAttrs = [
    intsAttr('dilations', [1, 1]),
    intAttr('group', 1),
    intsAttr('kernel_shape', [layer.kernel, layer.kernel]),
    intsAttr('pads', [layer.pad, layer.pad, layer.pad, layer.pad]),
    intsAttr('strides', [layer.stride, layer.stride]),
  ];
  const weight = tensor(e.w, `${layer.conv}.weight`);
  const convOut = `/${layer.conv}/Conv_output_0`;
  if (!e.keepBatchNorm) {
    const { foldedWeight, foldedBias } = foldBatchNorm(e.w, layer, weight);
    e.initializers.push(floatTensor(`${layer.conv}.weight`, shapeOf(layer), foldedWeight));
    e.initializers.push(floatTensor(`${layer.conv}.bias`, [layer.outChannels], foldedBias));
    e.nodes.push(node('Conv', `/${layer.conv}/Conv`, [input, `${layer.conv}.weight`, `${layer.conv}.bias`], [convOut], convAttrs));
    return convOut;
  }
  e.initializers.push(floatTensor(`${layer.conv}.weight`, shapeOf(layer), weight));
  e.nodes.push(node('Conv', `/${layer.conv}/Conv`, [input, `${layer.conv}.weight`], [convOut], convAttrs));
  const bnInputs = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => `${layer.bn}.${p}`);
  for (const name of bnInputs) e.initializers.push(floatTensor(name, [layer.outChannels], tensor(e.w, name)));
  const bnOut = `/${layer.bn}/BatchNormalization_output_0`;
  e.nodes.push(
    node('BatchNormalization', `/${layer.bn}/BatchNormalization`, [convOut, ...bnInputs], [bnOut], [floatAttr('epsilon', BN_EPSILON)]),
  );
  return bnOut;
}

/** W' = W·γ/√(σ²+ε) per output channel, b' = β − μ·γ/√(σ²+ε); float64, rounded once to float32. */
function foldBatchNorm(w: ResNetWeights, layer: ConvBn, weight: Float32Array): { foldedWeight: Float32Array; foldedBias: Float32Array } {
  const gamma = tensor(w, `${layer.bn}.weight`);
  const beta = tensor(w, `${layer.bn}.bias`);
  const mean = tensor(w, `${layer.bn}.running_mean`);
  const variance = tensor(w, `${layer.bn}.running_var`);
  const perChannel = weight.length / layer.outChannels;
  const foldedWeight = new Float32Array(weight.length);
  const foldedBias = new Float32Array(layer.outChannels);
  for (let c = 0; c < layer.outChannels; c++) {
    const scale = gamma[c]! / Math.sqrt(variance[c]! + BN_EPSILON);
    for (let k = c * perChannel; k < (c + 1) * perChannel; k++) foldedWeight[k] = weight[k]! * scale;
    foldedBias[c] = beta[c]! - mean[c]! * scale;
  }
  return { foldedWeight, foldedBias };
}

function emitRelu(e: Emitter, name: string, input: string): string {
  const out = `/${name}/Relu_output_0`;
  e.nodes.push(node('Relu', `/${name}/Relu`, [input], [out]));
  return out;
}

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`${what} must be a non-empty string`);
}

/** Serialises ResNet `weights` as an ONNX model. */
export function encodeResNet(weights: ResNetWeights, options: BuildResNetOptions = {}): Uint8Array {
  const variant = options.variant ?? 'resnet18';
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'logits';
  const opset = options.opset ?? DEFAULT_OPSET;
  checkName('inputName', inputName);
  checkName('outputName', outputName);
  if (inputName === outputName) throw new TypeError('inputName and outputName must differ');
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new RangeError(`opset must be an integer in [${MIN_OPSET}, ${MAX_OPSET}], got ${opset}`);
  }
  const t = resnetTopology(variant);
  const e: Emitter = { nodes: [], initializers: [], w: weights, keepBatchNorm: options.keepBatchNorm ?? true };

  let x = emitConvBn(e, t.stem, inputName);
  x = emitRelu(e, 'relu', x);
  const pooled = '/maxpool/MaxPool_output_0';
  e.nodes.push(
    node(
      'MaxPool',
      '/maxpool/MaxPool',
      [x],
      [pooled],
      [intAttr('ceil_mode', 0), intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intsAttr('strides', [2, 2])],
    ),
  );
  x = pooled;
  for (const block of t.blocks) {
    let h = emitConvBn(e, block.conv1, x);
    h = emitRelu(e, `${block.name}.relu`, h);
    h = emitConvBn(e, block.conv2, h);
    const identity = block.downsample ? emitConvBn(e, block.downsample, x) : x;
    const sum = `/${block.name}/Add_output_0`;
    e.nodes.push(node('Add', `/${block.name}/Add`, [h, identity], [sum]));
    x = emitRelu(e, `${block.name}.relu_1`, sum);
  }
  e.nodes.push(node('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x], ['/avgpool/GlobalAveragePool_output_0']));
  const features = options.features === true;
  const flat = features ? (options.outputName ?? 'features') : '/Flatten_output_0';
  e.nodes.push(node('Flatten', '/Flatten', ['/avgpool/GlobalAveragePool_output_0'], [flat], [intAttr('axis', 1)]));
  if (!features) {
    e.initializers.push(floatTensor('fc.weight', [t.classes, t.features], tensor(weights, 'fc.weight')));
    e.initializers.push(floatTensor('fc.bias', [t.classes], tensor(weights, 'fc.bias')));
    e.nodes.push(
      node(
        'Gemm',
        '/fc/Gemm',
        ['/Flatten_output_0', 'fc.weight', 'fc.bias'],
        [outputName],
        [floatAttr('alpha', 1), floatAttr('beta', 1), intAttr('transB', 1)],
      ),
    );
  }

  return encodeModel({
    irVersion: irVersionForOpset(opset),
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'tabpool',
    modelVersion: BUILTIN_MODEL_VERSION,
    docString:
      `${variant === 'tiny' ? 'A narrow ResNet-18 (widths 8/16/32/64, 64x64 input)' : "torchvision's ResNet-18"} ` +
      'with deterministic synthetic weights, calibrated on the tabpool sample images. Not trained: its 1000 ' +
      'classes are not ImageNet predictions.',
    graph: {
      name: variant === 'tiny' ? 'resnet18_tiny' : 'resnet18',
      node: e.nodes,
      initializer: e.initializers,
      input: [floatValueInfo(inputName, [options.batch ?? BATCH_DIM, 3, t.inputSize, t.inputSize])],
      output: [
        floatValueInfo(flat === '/Flatten_output_0' ? outputName : flat, [options.batch ?? BATCH_DIM, features ? t.features : t.classes]),
      ],
    },
  });
}

/**
 * Builds the built-in ResNet as ONNX bytes. The first call per variant in a process computes the
 * weights (a calibration pass in JavaScript: seconds for resnet18); later calls reuse them.
 */
export function buildResNet(options: BuildResNetOptions = {}): Uint8Array {
  return encodeResNet(builtinWeights(options.variant ?? 'resnet18'), options);
}

/** Where `ensureBuiltinModel` keeps a variant: `<cacheDir>/models/<variant>[-features].onnx`. */
export function builtinModelPath(cacheDir: string, variant: ResNetVariant, features = false): string {
  return join(cacheDir, 'models', `${variant}${features ? '-features' : ''}.onnx`);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The cached file is reused only if it decodes and carries the current BUILTIN_MODEL_VERSION. */
function isCurrent(bytes: Uint8Array): boolean {
  try {
    const model = decodeModel(bytes);
    return model.producerName === 'tabpool' && Number(model.modelVersion) === BUILTIN_MODEL_VERSION;
  } catch {
    return false;
  }
}

/**
 * Builds the built-in model with default options into `<cacheDir>/models/<variant>.onnx` unless
 * a current one is there already, and returns its path and SHA-256. The file is written under a
 * temporary name and renamed into place, so a crash never leaves a truncated model behind and
 * concurrent callers each see a whole file. The first build blocks the event loop for seconds.
 */
export async function ensureBuiltinModel(
  cacheDir: string,
  variant: ResNetVariant,
  features = false,
): Promise<{ path: string; sha256: string }> {
  const path = builtinModelPath(cacheDir, variant, features);
  try {
    const existing = await readFile(path);
    if (isCurrent(existing)) return { path, sha256: sha256Hex(existing) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const bytes = buildResNet({ variant, features });
  await mkdir(join(cacheDir, 'models'), { recursive: true });
  const tmp = `${path}.${process.pid}-${Date.now().toString(36)}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return { path, sha256: sha256Hex(bytes) };
}
