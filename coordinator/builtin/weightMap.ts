/**
 * The built-in model's weights as float32 tensors by state_dict name: the one type the builder, the
 * initialiser and the calibration share.
 */
export type ResNetWeights = Map<string, Float32Array>;

export function tensor(w: ResNetWeights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`no weight named ${name}`);
  return t;
}
