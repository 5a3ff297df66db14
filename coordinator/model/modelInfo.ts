/**
 * What tabpool needs to know about an ONNX model before any tab loads it: the input and output
 * names, the input size to preprocess to, the class count, and a few facts for the run summary.
 * Anything that is not a single-input NCHW image classifier is refused here, with a message that
 * names the file, what it has and what tabpool expects, rather than failing later in every tab.
 */
import onnxProto from 'onnx-proto';
import { TabpoolError } from '../../shared/errors.ts';

const { onnx } = onnxProto;

/** Used for a model whose height and width are symbolic (for example `optimum` exports). */
export const DEFAULT_INPUT_SIZE = 224;

/** ai.onnx opset 7 is the oldest onnxruntime (and so onnxruntime-web) can run. */
export const MIN_OPSET = 7;

export interface ModelInfo {
  /** Name of the one graph input that is not an initializer. */
  inputName: string;
  outputName: string;
  inputShape: {
    /** Fixed batch size, or null when the batch dimension is symbolic (`N`, `batch_size`) or unset. */
    batch: number | null;
    channels: 3;
    /** Static height and width, or DEFAULT_INPUT_SIZE when the model leaves them symbolic. */
    height: number;
    width: number;
  };
  /** True when height and width were symbolic and DEFAULT_INPUT_SIZE was assumed for both. */
  inputSizeAssumed: boolean;
  /** Assumptions made while reading the model, in words, for the CLI to show. */
  notes: string[];
  /** Static size of the output's class axis, at least 2. */
  numClasses: number;
  /** The ai.onnx opset the model imports. */
  opset: number;
  hasBatchNorm: boolean;
  /** Elements in all initializers except BatchNormalization running mean and variance. */
  parameterCount: number;
  irVersion: number;
  /** `producer_name producer_version`, e.g. `pytorch 2.4.0`; empty when the exporter left it out. */
  producer: string;
}

type ValueInfo = onnxProto.onnx.IValueInfoProto;
type Dim = onnxProto.onnx.TensorShapeProto.IDimension;

const FLOAT32 = 1;
const ELEM_TYPES: Readonly<Record<number, string>> = {
  0: 'undefined',
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

const EXPECTED_INPUT = 'one float32 image input shaped [batch, 3, height, width] (NCHW)';
const EXPECTED_OUTPUT = 'one float32 output shaped [batch, classes] with a static class count of at least 2';

/** protobufjs decodes int64 fields as Long objects (or numbers when `long` is missing). */
function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** A dimension's static size, or null when it is symbolic or unset (exporters also write -1 or 0). */
function staticDim(d: Dim | undefined): number | null {
  if (!d || d.dimValue === null || d.dimValue === undefined) return null;
  const n = toNumber(d.dimValue);
  return n > 0 ? n : null;
}

function dimText(d: Dim): string {
  const n = staticDim(d);
  if (n !== null) return String(n);
  return d.dimParam ? d.dimParam : '?';
}

/** The tensor's dims, or null when the value is not a tensor or carries no shape. */
function dimsOf(v: ValueInfo): Dim[] | null {
  const shape = v.type?.tensorType?.shape;
  return shape ? (shape.dim ?? []) : null;
}

function describe(v: ValueInfo): string {
  const type = v.type;
  const name = `"${v.name ?? ''}"`;
  if (!type?.tensorType) {
    const kind = type?.sequenceType ? 'a sequence' : type?.mapType ? 'a map' : type?.optionalType ? 'an optional' : 'untyped';
    return `${name} (${kind}, not a tensor)`;
  }
  const elem = ELEM_TYPES[type.tensorType.elemType ?? 0] ?? `type ${type.tensorType.elemType}`;
  const dims = dimsOf(v);
  return `${name} ${elem} ${dims ? `[${dims.map(dimText).join(', ')}]` : '(no shape)'}`;
}

function notOnnx(source: string, reason: string, cause?: unknown): TabpoolError {
  return new TabpoolError(
    'MODEL_NOT_ONNX',
    `${source} is not an ONNX model: ${reason}. Export it with torch.onnx.export (or tf2onnx, or optimum-cli ` +
      `export onnx) and pass the .onnx file`,
    { cause },
  );
}

function notClassifier(source: string, found: string, expected: string): TabpoolError {
  return new TabpoolError('MODEL_NOT_CLASSIFIER', `${source} is not a single-input image classifier: ${found}; expected ${expected}`);
}

function decode(bytes: Uint8Array, source: string): onnxProto.onnx.ModelProto {
  if (bytes.length === 0) throw notOnnx(source, 'the file is empty');
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw notOnnx(source, `its bytes do not decode as an ONNX ModelProto (${(err as Error).message})`, err);
  }
  // Other protobufs (and some random bytes) decode without error; a real model has both of these.
  if (!model.graph) throw notOnnx(source, 'it decodes as protobuf but holds no graph');
  if (toNumber(model.irVersion) <= 0) throw notOnnx(source, 'it holds no ONNX IR version');
  return model;
}

function opsetOf(model: onnxProto.onnx.ModelProto, source: string): number {
  const imports = model.opsetImport ?? [];
  const main = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!main) {
    const domains = imports.map((o) => `${o.domain} ${toNumber(o.version)}`).join(', ') || 'none';
    throw new TabpoolError(
      'MODEL_OPSET_UNSUPPORTED',
      `${source} imports no ai.onnx opset (imports: ${domains}); expected ai.onnx opset ${MIN_OPSET} or newer`,
    );
  }
  const opset = toNumber(main.version);
  if (opset < MIN_OPSET) {
    throw new TabpoolError(
      'MODEL_OPSET_UNSUPPORTED',
      `${source} uses ai.onnx opset ${opset}; onnxruntime needs opset ${MIN_OPSET} or newer. Re-export it ` +
        `with torch.onnx.export(..., opset_version=17)`,
    );
  }
  return opset;
}

function checkInput(input: ValueInfo, source: string, notes: string[]): Pick<ModelInfo, 'inputShape' | 'inputSizeAssumed'> {
  const what = `input ${describe(input)}`;
  const elemType = input.type?.tensorType?.elemType;
  if (elemType === undefined || elemType === null) throw notClassifier(source, `${what} is not a tensor`, EXPECTED_INPUT);
  const dims = dimsOf(input);
  if (!dims) throw notClassifier(source, `${what} declares no shape`, EXPECTED_INPUT);
  if (dims.length !== 4) throw notClassifier(source, `${what} has rank ${dims.length}`, EXPECTED_INPUT);
  const [b, c, h, w] = dims.map(staticDim);
  if (c !== null && c !== 3) {
    const hint = w === 3 ? ' (it looks channels-last, NHWC; re-export with channels second)' : '';
    throw notClassifier(source, `${what} has ${c} channel${c === 1 ? '' : 's'} on axis 1${hint}`, EXPECTED_INPUT);
  }
  if (elemType !== FLOAT32) throw notClassifier(source, `${what} is not float32`, EXPECTED_INPUT);
  if (c === null) notes.push(`input "${input.name}" has a symbolic channel axis; assumed 3 (RGB)`);
  let height = h ?? null;
  let width = w ?? null;
  const inputSizeAssumed = height === null || width === null;
  if (inputSizeAssumed) {
    // One static side and one symbolic side is rare; keep the static one and square the other.
    height ??= width ?? DEFAULT_INPUT_SIZE;
    width ??= height;
    notes.push(`input "${input.name}" has symbolic height or width; assumed ${height}×${width}`);
  }
  return { inputShape: { batch: b ?? null, channels: 3, height: height!, width: width! }, inputSizeAssumed };
}

function checkOutput(output: ValueInfo, source: string): number {
  const what = `output ${describe(output)}`;
  const elemType = output.type?.tensorType?.elemType;
  if (elemType === undefined || elemType === null) throw notClassifier(source, `${what} is not a tensor`, EXPECTED_OUTPUT);
  const dims = dimsOf(output);
  if (!dims) throw notClassifier(source, `${what} declares no shape`, EXPECTED_OUTPUT);
  if (dims.length !== 2) {
    const hint = dims.length === 4 ? ' (a feature map or segmentation output, not class scores)' : '';
    throw notClassifier(source, `${what} has rank ${dims.length}${hint}`, EXPECTED_OUTPUT);
  }
  const classes = staticDim(dims[1]);
  if (classes === null) throw notClassifier(source, `${what} has a symbolic class axis`, EXPECTED_OUTPUT);
  if (classes < 2) throw notClassifier(source, `${what} has ${classes} class`, EXPECTED_OUTPUT);
  if (elemType !== FLOAT32) throw notClassifier(source, `${what} is not float32`, EXPECTED_OUTPUT);
  return classes;
}

function countParameters(graph: onnxProto.onnx.IGraphProto): { parameterCount: number; hasBatchNorm: boolean } {
  const runningStats = new Set<string>();
  let hasBatchNorm = false;
  for (const node of graph.node ?? []) {
    if (node.opType !== 'BatchNormalization') continue;
    hasBatchNorm = true;
    // Inputs are X, scale, B, input_mean, input_var: the last two are statistics, not learnt weights.
    for (const name of (node.input ?? []).slice(3, 5)) runningStats.add(name);
  }
  let parameterCount = 0;
  for (const init of graph.initializer ?? []) {
    if (runningStats.has(init.name ?? '')) continue;
    parameterCount += (init.dims ?? []).reduce<number>((n, d) => n * toNumber(d), 1);
  }
  return { parameterCount, hasBatchNorm };
}

/**
 * Decodes an ONNX model and checks it is a single-input image classifier: one float32 input
 * [batch, 3, H, W] and one float32 output [batch, classes]. Symbolic H and W become
 * DEFAULT_INPUT_SIZE, flagged by `inputSizeAssumed` and a note. `source` names the file in messages.
 *
 * @throws TabpoolError MODEL_NOT_ONNX, MODEL_OPSET_UNSUPPORTED or MODEL_NOT_CLASSIFIER.
 */
export function inspectModel(bytes: Uint8Array, source: string): ModelInfo {
  const model = decode(bytes, source);
  const graph = model.graph!;
  const opset = opsetOf(model, source);

  // Older exporters (keep_initializers_as_inputs) also list every weight as a graph input.
  const initializers = new Set([
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
    ...(graph.sparseInitializer ?? []).map((t) => t.values?.name ?? ''),
  ]);
  const inputs = (graph.input ?? []).filter((v) => !initializers.has(v.name ?? ''));
  const outputs = graph.output ?? [];

  if (inputs.length !== 1) {
    const found = inputs.length === 0 ? 'it has no inputs' : `it has ${inputs.length} inputs (${inputs.map(describe).join(', ')})`;
    throw notClassifier(source, found, EXPECTED_INPUT);
  }
  if (outputs.length !== 1) {
    const found = outputs.length === 0 ? 'it has no outputs' : `it has ${outputs.length} outputs (${outputs.map(describe).join(', ')})`;
    throw notClassifier(source, found, EXPECTED_OUTPUT);
  }
  const input = inputs[0]!;
  const output = outputs[0]!;
  const notes: string[] = [];
  const { inputShape, inputSizeAssumed } = checkInput(input, source, notes);
  const numClasses = checkOutput(output, source);

  return {
    inputName: input.name ?? '',
    outputName: output.name ?? '',
    inputShape,
    inputSizeAssumed,
    notes,
    numClasses,
    opset,
    ...countParameters(graph),
    irVersion: toNumber(model.irVersion),
    producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
  };
}

/**
 * For a user's actor, whose model may be anything: checks the file is an ONNX model onnxruntime can
 * run (refused as inspectModel refuses it otherwise) and returns the static height and width of its
 * first input shaped [batch, 3, H, W], the default input size of an image actor, or null.
 */
export function imageInputSize(bytes: Uint8Array, source: string): { height: number; width: number } | null {
  const model = decode(bytes, source);
  opsetOf(model, source);
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const input of (graph.input ?? []).filter((v) => !initializers.has(v.name ?? ''))) {
    const dims = dimsOf(input);
    if (!dims || dims.length !== 4) continue;
    const [, c, h, w] = dims.map(staticDim);
    if ((c === 3 || c === null) && h && w) return { height: h, width: w };
  }
  return null;
}
