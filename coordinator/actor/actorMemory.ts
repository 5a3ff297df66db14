/**
 * What each actor reserves on its host by default (--memory not given), documented in the README:
 * the actor's own declaration (`static memory`) where it makes one, else 2 × the bytes of all its
 * files (the fetched copies and the sessions' weights) + 64 MiB for the runtime, plus per input of a
 * batch 16 × the input tensor's bytes for images (activations peak at a few times the input for
 * ResNet-style nets; a 224 × 224 tensor's for raw pixels, whose size is the actor's own business),
 * 1 MiB for a record (the largest a record may be), and 16 MiB for a file.
 */
import type { ActorInputs, MemoryDeclaration } from '../../shared/actorApi.ts';
import type { ImagePreprocess } from '../../shared/preprocess.ts';

import { MAX_RECORD_BYTES } from '../io/recordLimits.ts';

export interface MemoryModel {
  /** Bytes of every file the actor loads (`ctx.models`). */
  modelBytes: number;
  inputs: ActorInputs;
  preprocess: ImagePreprocess | null;
  declared: MemoryDeclaration | null;
}

const RAW_PIXELS_SIDE = 224;
const FILE_BYTES = 16 * 2 ** 20;

function fixedBytes(m: MemoryModel): number {
  return m.declared?.fixedBytes ?? 2 * m.modelBytes + 64 * 2 ** 20;
}

function perItemBytes(m: MemoryModel): number {
  if (m.declared?.perItemBytes !== undefined) return m.declared.perItemBytes;
  if (m.inputs === 'record') return MAX_RECORD_BYTES;
  if (m.inputs === 'file') return FILE_BYTES;
  const p = m.preprocess;
  const [h, w] = !p || p === 'none' ? [RAW_PIXELS_SIDE, RAW_PIXELS_SIDE] : [p.height, p.width];
  return 16 * 3 * h * w * 4;
}

export function estimateActorMemory(m: MemoryModel, batchSize: number): number {
  return fixedBytes(m) + batchSize * perItemBytes(m);
}

/** The largest batch an actor's memory budget holds (at least 1), by the same estimate. */
export function maxBatchFor(m: MemoryModel, memoryBytes: number): number {
  const per = perItemBytes(m);
  return per === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.floor((memoryBytes - fixedBytes(m)) / per));
}
