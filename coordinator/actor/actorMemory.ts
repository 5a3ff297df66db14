/**
 * What each actor reserves on its host by default (--memory not given), documented in the README:
 * the actor's own declaration (`static memory`) where it makes one, else 2 × the model's bytes (the
 * fetched copy and the session's weights) + 64 MiB for the runtime, plus per input of a batch 16 ×
 * the input tensor's bytes for images (activations peak at a few times the input for ResNet-style
 * nets) or 1 MiB for a record (the largest a record may be).
 */
import type { ActorInputs, MemoryDeclaration } from '../../shared/actorApi.ts';
import type { PreprocessSpec } from '../../shared/preprocess.ts';

import { MAX_RECORD_BYTES } from '../io/recordLimits.ts';

export interface MemoryModel {
  modelBytes: number;
  inputs: ActorInputs;
  preprocess: PreprocessSpec | null;
  declared: MemoryDeclaration | null;
}

function fixedBytes(m: MemoryModel): number {
  return m.declared?.fixedBytes ?? 2 * m.modelBytes + 64 * 2 ** 20;
}

function perItemBytes(m: MemoryModel): number {
  if (m.declared?.perItemBytes !== undefined) return m.declared.perItemBytes;
  if (m.inputs === 'record' || !m.preprocess) return MAX_RECORD_BYTES;
  return 16 * 3 * m.preprocess.height * m.preprocess.width * 4;
}

export function estimateActorMemory(m: MemoryModel, batchSize: number): number {
  return fixedBytes(m) + batchSize * perItemBytes(m);
}

/** The largest batch an actor's memory budget holds (at least 1), by the same estimate. */
export function maxBatchFor(m: MemoryModel, memoryBytes: number): number {
  const per = perItemBytes(m);
  return per === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.floor((memoryBytes - fixedBytes(m)) / per));
}
