/**
 * Resolves `--model`: the built-in ResNet-18 (built on first use), or a user's ONNX file, read
 * once, hashed, and inspected so a model that is not an image classifier is refused before any
 * tab loads it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';
import { IMAGENET_LABELS } from '../../shared/imagenetLabels.ts';
import { modelPath } from '../../shared/routes.ts';
import type { ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import { ensureBuiltinModel } from '../builtin/resnetBuilder.ts';
import type { JobOptions } from '../jobOptions.ts';
import { inspectModel, type ModelInfo } from './modelInfo.ts';

export const BUILTIN_MODELS = { resnet18: 'resnet18', 'resnet18-tiny': 'tiny' } as const;

/** Labels that say plainly they are class indices: for models whose classes have no known names. */
export function classIndexLabels(numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, i) => `class ${i}`);
}

export interface ResolvedModel {
  name: string;
  path: string;
  bytes: Uint8Array;
  sha256: string;
  info: ModelInfo;
  labels: readonly string[];
  builtin: boolean;
}

export async function resolveModel(spec: string, cacheDir: string): Promise<ResolvedModel> {
  const variant = (BUILTIN_MODELS as Record<string, 'resnet18' | 'tiny'>)[spec];
  let file: string;
  if (variant) {
    file = (await ensureBuiltinModel(cacheDir, variant)).path;
  } else {
    file = path.resolve(spec);
  }
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch {
    throw new TabpoolError(
      'MODEL_NOT_FOUND',
      `--model ${spec}: no such file; pass a path to an .onnx file or one of ${Object.keys(BUILTIN_MODELS).join(', ')}`,
    );
  }
  const info = inspectModel(bytes, spec);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // The built-in model's weights are seeded, not trained: its classes are indices, not ImageNet's names.
  const labels = !variant && info.numClasses === IMAGENET_LABELS.length ? IMAGENET_LABELS : classIndexLabels(info.numClasses);
  return { name: variant ? spec : path.basename(file), path: file, bytes, sha256, info, labels, builtin: variant !== undefined };
}

/** Bytes one image's activations are taken to need: a few times the input tensor for ResNet-style nets. */
function perImageBytes(model: ResolvedModel): number {
  return 16 * 3 * model.info.inputShape.height * model.info.inputShape.width * 4;
}

/** What an actor needs whatever its batch: the fetched model, the session's weights, the runtime. */
function fixedBytes(model: ResolvedModel): number {
  return 2 * model.bytes.byteLength + 64 * 2 ** 20;
}

/**
 * Default per-actor memory budget, documented in the README: 2 × model bytes (the fetched copy and
 * the session's weights) + batch size × 16 × input tensor bytes (activations peak at a few times
 * the input per image for ResNet-style nets) + 64 MiB for the runtime itself.
 */
export function estimateActorMemory(model: ResolvedModel, batchSize: number): number {
  return fixedBytes(model) + batchSize * perImageBytes(model);
}

/** The largest batch an actor's memory budget holds (at least 1), by the same estimate. */
export function maxBatchFor(model: ResolvedModel, memoryBytes: number): number {
  return Math.max(1, Math.floor((memoryBytes - fixedBytes(model)) / perImageBytes(model)));
}

/** The spec an actor loads the model by, for the EP it runs; the token goes in the model URL. */
export function jobSpecFor(model: ResolvedModel, options: JobOptions, token: string): (eps: ExecutionProvider[]) => JobSpec {
  return (eps) => ({
    modelUrl: `${modelPath(model.sha256)}?token=${token}`,
    modelSha256: model.sha256,
    modelBytes: model.bytes.byteLength,
    eps,
    inputName: model.info.inputName,
    outputName: model.info.outputName,
    inputHeight: model.info.inputShape.height,
    inputWidth: model.info.inputShape.width,
    numClasses: model.info.numClasses,
    topK: Math.min(options.topK, model.info.numClasses),
    numThreads: Math.max(1, Math.round(options.numCpus ?? 1)),
    returnLogits: options.logits,
    allowSoftwareGpu: options.allowSoftwareGpu,
  });
}
