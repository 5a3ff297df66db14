/**
 * Resolves one `--model`: the built-in ResNet-18 (built on first use), or a user's ONNX file, read
 * once, hashed, and inspected so a model that is not an image classifier is refused before any
 * tab loads it. The bytes are not kept: tabs get the file from disk (jobFiles.ts names the files).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';
import { IMAGENET_LABELS } from '../../shared/imagenetLabels.ts';
import { ensureBuiltinModel } from '../builtin/resnetBuilder.ts';
import { imageInputSize, inspectModel, type ModelInfo } from './modelInfo.ts';
import { ensureScorer } from '../builtin/scorerBuilder.ts';

/** The built-in models by --model name: the classifiers, an embeddings network, and a small records scorer. */
export const BUILTIN_MODELS = {
  resnet18: { kind: 'resnet', variant: 'resnet18', features: false },
  'resnet18-tiny': { kind: 'resnet', variant: 'tiny', features: false },
  'resnet18-features': { kind: 'resnet', variant: 'resnet18', features: true },
  'resnet18-tiny-features': { kind: 'resnet', variant: 'tiny', features: true },
  scorer: { kind: 'scorer' },
} as const satisfies Record<string, { kind: 'resnet'; variant: 'resnet18' | 'tiny'; features: boolean } | { kind: 'scorer' }>;

/** Labels that say plainly they are class indices: for models whose classes have no known names. */
export function classIndexLabels(numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, i) => `class ${i}`);
}

export interface ResolvedModel {
  name: string;
  path: string;
  /** Its size. */
  bytes: number;
  sha256: string;
  /** What the classifier needs of it (the built-in actor only; a user's actor reads its own model). */
  info: ModelInfo | null;
  /** The first image-shaped input's static height and width, if any: a user actor's default input size. */
  imageSize: { height: number; width: number } | null;
  /** ImageNet's names for a 1000-class model of the user's; indices otherwise. */
  labels: 'imagenet' | 'index';
  builtin: boolean;
}

/**
 * Resolves --model: a built-in (built on first use) or a file. `classifier`: inspect it as the built-in actor
 * needs (refused unless it is one).
 */
export async function resolveModel(spec: string, cacheDir: string, classifier = true): Promise<ResolvedModel> {
  const builtin = (BUILTIN_MODELS as Record<string, (typeof BUILTIN_MODELS)[keyof typeof BUILTIN_MODELS]>)[spec];
  let file: string;
  if (builtin?.kind === 'resnet') file = (await ensureBuiltinModel(cacheDir, builtin.variant, builtin.features)).path;
  else if (builtin?.kind === 'scorer') file = (await ensureScorer(cacheDir)).path;
  else file = path.resolve(spec);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch {
    throw new TabpoolError(
      'MODEL_NOT_FOUND',
      `--model ${spec}: no such file; pass a path to an .onnx file or one of ${Object.keys(BUILTIN_MODELS).join(', ')}`,
    );
  }
  const info = classifier ? inspectModel(bytes, spec) : null;
  const imageSize = info ? { height: info.inputShape.height, width: info.inputShape.width } : imageInputSize(bytes, spec);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // The built-in model's weights are seeded, not trained: its classes are indices, not ImageNet's names.
  const labels = !builtin && info?.numClasses === IMAGENET_LABELS.length ? 'imagenet' : 'index';
  return {
    name: builtin ? spec : path.basename(file),
    path: file,
    bytes: bytes.byteLength,
    sha256,
    info,
    imageSize,
    labels,
    builtin: builtin !== undefined,
  };
}
