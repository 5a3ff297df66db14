/**
 * A small ONNX model whose weights live in a file beside it (ONNX external data, the way past the
 * 2 GB protobuf limit): `y = x · W + b` with x [N, 4] and W [4, 3] stored in `weightsName`, b in the
 * graph. Built with onnx-proto, for the tests of several files per actor.
 */
import onnxProto from 'onnx-proto';
import { encodeModel, floatTensor, floatValueInfo, irVersionForOpset, node } from '../../coordinator/builtin/onnxGraph.ts';

const { onnx } = onnxProto;

export const EXTERNAL_W = Float32Array.from([0.5, -1, 2, 1.5, 0.25, -0.75, -2, 1, 0.125, 3, -0.5, 1]);
export const EXTERNAL_B = Float32Array.from([0.1, -0.2, 0.3]);

/** The model's bytes and its weights file's bytes (W little-endian float32). */
export function externalDataModel(weightsName = 'model.onnx_data'): { model: Uint8Array; weights: Uint8Array } {
  const weights = new Uint8Array(EXTERNAL_W.buffer.slice(0));
  const w = {
    name: 'W',
    dims: [4, 3],
    dataType: onnx.TensorProto.DataType.FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: weightsName },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(weights.byteLength) },
    ],
  };
  const model = encodeModel({
    irVersion: irVersionForOpset(17),
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'tabpool-test',
    graph: {
      name: 'external',
      node: [node('MatMul', 'mm', ['x', 'W'], ['xw']), node('Add', 'add', ['xw', 'b'], ['y'])],
      initializer: [w, floatTensor('b', [3], EXTERNAL_B)],
      input: [floatValueInfo('x', ['N', 4])],
      output: [floatValueInfo('y', ['N', 3])],
    },
  });
  return { model, weights };
}

/** What the model computes for one row of x, in float64 (the tests compare within float32 rounding). */
export function externalDataExpected(x: readonly number[]): number[] {
  return [0, 1, 2].map((j) => x.reduce((s, xi, i) => s + xi * EXTERNAL_W[i * 3 + j]!, 0) + EXTERNAL_B[j]!);
}
