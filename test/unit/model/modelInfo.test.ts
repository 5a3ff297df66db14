import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { inspectModel, DEFAULT_INPUT_SIZE } from '../../../coordinator/model/modelInfo.ts';
import { TabpoolError } from '../../../shared/errors.ts';

const { onnx } = onnxProto;
const FLOAT = 1;
const FLOAT16 = 10;
const INT64 = 7;

type DimSpec = number | string;

function tensor(name: string, dims: DimSpec[] | null, elemType = FLOAT): onnxProto.onnx.IValueInfoProto {
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType: { elemType, ...(shape ? { shape } : {}) } } };
}

function weight(name: string, dims: number[]): onnxProto.onnx.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length: count }, (_, i) => ((i % 7) - 3) / 10);
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer) };
}

function node(opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) {
  return { opType, input, output, attribute, name: `${opType}_${output[0]}` };
}

interface Spec {
  inputs?: onnxProto.onnx.IValueInfoProto[];
  outputs?: onnxProto.onnx.IValueInfoProto[];
  opset?: number;
  keepInitializersAsInputs?: boolean;
}

/**
 * A real, runnable classifier: Conv 1×1 (3→4) → BatchNormalization → Relu → GlobalAveragePool →
 * Flatten → Gemm (4→10). Parameters: 12+4 (conv) + 4+4 (BN scale, bias) + 40+10 (gemm) = 74;
 * the BN mean and variance (4+4) are running statistics, not parameters.
 */
function classifier(spec: Spec = {}): Uint8Array {
  const initializer = [
    weight('conv.weight', [4, 3, 1, 1]),
    weight('conv.bias', [4]),
    weight('bn.weight', [4]),
    weight('bn.bias', [4]),
    weight('bn.running_mean', [4]),
    { ...weight('bn.running_var', [4]), rawData: new Uint8Array(Float32Array.from([1, 1, 1, 1]).buffer) },
    weight('fc.weight', [10, 4]),
    weight('fc.bias', [10]),
  ];
  const inputs = spec.inputs ?? [tensor('data', ['N', 3, 8, 8])];
  const graphInputs = spec.keepInitializersAsInputs ? [...inputs, ...initializer.map((t) => tensor(t.name!, t.dims as number[]))] : inputs;
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    producerName: 'pytorch',
    producerVersion: '2.4.0',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'tiny',
      node: [
        node('Conv', [inputs[0]!.name!, 'conv.weight', 'conv.bias'], ['c']),
        node('BatchNormalization', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['n']),
        node('Relu', ['n'], ['r']),
        node('GlobalAveragePool', ['r'], ['p']),
        node('Flatten', ['p'], ['f']),
        node(
          'Gemm',
          ['f', 'fc.weight', 'fc.bias'],
          [(spec.outputs ?? [])[0]?.name ?? 'logits'],
          [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        ),
      ],
      initializer,
      input: graphInputs,
      output: spec.outputs ?? [tensor('logits', ['N', 10])],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function refusal(fn: () => unknown): TabpoolError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TabpoolError, `expected a TabpoolError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected inspectModel to refuse the model');
}

function assertMentions(message: string, ...phrases: string[]): void {
  for (const p of phrases) assert.ok(message.includes(p), `message "${message}" lacks "${p}"`);
}

describe('inspectModel', () => {
  it('describes a valid classifier with input "data"', () => {
    const info = inspectModel(classifier(), 'models/tiny.onnx');
    assert.deepEqual(info, {
      inputName: 'data',
      outputName: 'logits',
      inputShape: { batch: null, channels: 3, height: 8, width: 8 },
      inputSizeAssumed: false,
      notes: [],
      numClasses: 10,
      opset: 17,
      hasBatchNorm: true,
      parameterCount: 74,
      irVersion: 8,
      producer: 'pytorch 2.4.0',
    });
  });

  it('agrees with onnxruntime on the input and output names', async () => {
    const bytes = classifier();
    const info = inspectModel(bytes, 'tiny.onnx');
    const session = await ort.InferenceSession.create(bytes);
    try {
      assert.deepEqual(session.inputNames, [info.inputName]);
      assert.deepEqual(session.outputNames, [info.outputName]);
      const x = new ort.Tensor('float32', new Float32Array(2 * 3 * 8 * 8).fill(0.5), [2, 3, 8, 8]);
      const out = await session.run({ [info.inputName]: x });
      assert.deepEqual(out[info.outputName]!.dims, [2, info.numClasses]);
    } finally {
      await session.release();
    }
  });

  it('reads a fixed batch size', () => {
    const info = inspectModel(classifier({ inputs: [tensor('data', [1, 3, 8, 8])], outputs: [tensor('logits', [1, 10])] }), 'b1.onnx');
    assert.equal(info.inputShape.batch, 1);
  });

  it('assumes 224×224 for a "pixel_values" input with symbolic sizes, and says so', () => {
    const inputs = [tensor('pixel_values', ['batch_size', 'num_channels', 'height', 'width'])];
    const info = inspectModel(classifier({ inputs, outputs: [tensor('logits', ['batch_size', 10])] }), 'hf/model.onnx');
    assert.equal(info.inputName, 'pixel_values');
    assert.deepEqual(info.inputShape, { batch: null, channels: 3, height: DEFAULT_INPUT_SIZE, width: DEFAULT_INPUT_SIZE });
    assert.equal(info.inputSizeAssumed, true);
    assert.equal(info.notes.length, 2);
    assertMentions(info.notes.join(' '), 'pixel_values', '224×224', 'assumed 3');
  });

  it('ignores graph inputs that are initializers (keep_initializers_as_inputs exports)', () => {
    const info = inspectModel(classifier({ keepInitializersAsInputs: true }), 'old.onnx');
    assert.equal(info.inputName, 'data');
    assert.equal(info.parameterCount, 74);
  });

  it('refuses a model with two inputs, naming both', () => {
    const inputs = [tensor('input_ids', ['batch', 'seq'], INT64), tensor('attention_mask', ['batch', 'seq'], INT64)];
    const err = refusal(() => inspectModel(classifier({ inputs }), 'models/bert.onnx'));
    assert.equal(err.code, 'MODEL_NOT_CLASSIFIER');
    assertMentions(
      err.message,
      'models/bert.onnx',
      '2 inputs',
      '"input_ids" int64 [batch, seq]',
      '"attention_mask"',
      '[batch, 3, height, width]',
    );
  });

  it('refuses a rank-3 input, showing its shape', () => {
    const err = refusal(() => inspectModel(classifier({ inputs: [tensor('x', [1, 224, 224])] }), 'flat.onnx'));
    assert.equal(err.code, 'MODEL_NOT_CLASSIFIER');
    assertMentions(err.message, 'flat.onnx', '"x" float32 [1, 224, 224]', 'rank 3', '[batch, 3, height, width]');
  });

  it('refuses a channels-last input and says it looks like NHWC', () => {
    const err = refusal(() => inspectModel(classifier({ inputs: [tensor('x', ['N', 224, 224, 3])] }), 'tf.onnx'));
    assert.equal(err.code, 'MODEL_NOT_CLASSIFIER');
    assertMentions(err.message, 'tf.onnx', '[N, 224, 224, 3]', 'NHWC', 'NCHW');
  });

  it('refuses a one-channel input', () => {
    const err = refusal(() => inspectModel(classifier({ inputs: [tensor('x', ['N', 1, 28, 28])] }), 'mnist.onnx'));
    assertMentions(err.message, 'mnist.onnx', '1 channel on axis 1', '[batch, 3, height, width]');
  });

  it('refuses a float16 input', () => {
    const err = refusal(() => inspectModel(classifier({ inputs: [tensor('x', ['N', 3, 8, 8], FLOAT16)] }), 'half.onnx'));
    assert.equal(err.code, 'MODEL_NOT_CLASSIFIER');
    assertMentions(err.message, 'half.onnx', 'float16', 'not float32');
  });

  it('refuses a rank-4 output, showing its shape', () => {
    const err = refusal(() => inspectModel(classifier({ outputs: [tensor('features', ['N', 2048, 7, 7])] }), 'backbone.onnx'));
    assert.equal(err.code, 'MODEL_NOT_CLASSIFIER');
    assertMentions(err.message, 'backbone.onnx', '"features" float32 [N, 2048, 7, 7]', 'rank 4', '[batch, classes]');
  });

  it('refuses a model with two outputs, naming both', () => {
    const outputs = [tensor('logits', ['N', 10]), tensor('aux_logits', ['N', 10])];
    const err = refusal(() => inspectModel(classifier({ outputs }), 'inception.onnx'));
    assertMentions(err.message, 'inception.onnx', '2 outputs', '"logits"', '"aux_logits"');
  });

  it('refuses an output whose class count is symbolic', () => {
    const err = refusal(() => inspectModel(classifier({ outputs: [tensor('logits', ['N', 'num_labels'])] }), 'dyn.onnx'));
    assertMentions(err.message, 'dyn.onnx', '[N, num_labels]', 'symbolic class axis');
  });

  it('refuses an opset older than 7', () => {
    const err = refusal(() => inspectModel(classifier({ opset: 6 }), 'ancient.onnx'));
    assert.equal(err.code, 'MODEL_OPSET_UNSUPPORTED');
    assertMentions(err.message, 'ancient.onnx', 'opset 6', 'opset_version');
  });

  it('refuses garbage bytes as not ONNX, naming the file and the fix', () => {
    const garbage = new TextEncoder().encode('this is not a model, it is a text file\n');
    const err = refusal(() => inspectModel(garbage, 'notes.txt'));
    assert.equal(err.code, 'MODEL_NOT_ONNX');
    assertMentions(err.message, 'notes.txt', 'torch.onnx.export');
  });

  it('refuses an empty file as not ONNX', () => {
    const err = refusal(() => inspectModel(new Uint8Array(0), 'empty.onnx'));
    assert.equal(err.code, 'MODEL_NOT_ONNX');
    assertMentions(err.message, 'empty.onnx', 'empty');
  });

  it('refuses a protobuf that is not a model (a bare TensorProto)', () => {
    const tensorBytes = onnx.TensorProto.encode(weight('w', [2, 2])).finish();
    const err = refusal(() => inspectModel(tensorBytes, 'weights.pb'));
    assert.equal(err.code, 'MODEL_NOT_ONNX');
    assertMentions(err.message, 'weights.pb', 'torch.onnx.export');
  });

  it('refuses a ModelProto without a graph', () => {
    const bytes = onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }).finish();
    const err = refusal(() => inspectModel(bytes, 'hollow.onnx'));
    assert.equal(err.code, 'MODEL_NOT_ONNX');
    assertMentions(err.message, 'hollow.onnx', 'no graph');
  });
});
