/**
 * Small constructors for onnx-proto messages, so the builder reads as a list of operators.
 * Everything is serialised by onnx-proto's generated encoder; no bytes are written by hand.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ModelProto = onnxProto.onnx.IModelProto;

/** A tensor dimension: a fixed size or a symbolic name such as `batch`. */
export type Dim = number | string;

export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

export function intsAttr(name: string, ints: readonly number[]): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...ints] };
}

export function floatAttr(name: string, f: number): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

export function node(
  opType: string,
  name: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attribute: AttributeProto[] = [],
): NodeProto {
  return { opType, name, input: [...inputs], output: [...outputs], attribute };
}

/** A float32 initializer, stored little-endian in raw_data as the ONNX spec requires. */
export function floatTensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) throw new RangeError(`${name}: ${values.length} values for dims [${dims.join(', ')}]`);
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

/** An int64 initializer (shapes, indices), little-endian in raw_data. */
export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]!), true);
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.INT64, rawData: raw };
}

export function floatValueInfo(name: string, dims: readonly Dim[]): ValueInfoProto {
  return valueInfo(name, onnx.TensorProto.DataType.FLOAT, dims);
}

export function int64ValueInfo(name: string, dims: readonly Dim[]): ValueInfoProto {
  return valueInfo(name, onnx.TensorProto.DataType.INT64, dims);
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * The IR version that shipped with an opset (onnx/helper.py's VERSION_TABLE), so that a model
 * asking for opset 11 also loads in runtimes of that era.
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
