/** Reads a WebGPU adapter's identity and limits into a plain object (its fields are getters). */
import type { AdapterInfo } from './protocol.ts';

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export function describeAdapter(info: AdapterInfoLike, limits: object): AdapterInfo {
  const out: Record<string, number> = {};
  // WebIDL attributes live on the prototype; for..in walks them, Object.keys would not.
  for (const key in limits) {
    const v = (limits as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  const architecture = info.architecture ?? '';
  return {
    vendor: info.vendor ?? '',
    architecture,
    device: info.device ?? '',
    description: info.description ?? '',
    isSoftware: info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|warp/i.test(`${architecture} ${info.description ?? ''}`),
    limits: out,
  };
}
