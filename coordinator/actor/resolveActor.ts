/**
 * The job's actor, resolved before any browser starts: the built-in classifier (on a classifier
 * model), or the user's module (--actor), bundled, loaded in Node and its declarations checked,
 * with the config it runs with (--actor-config) and how its image inputs are preprocessed.
 */
import Classifier, { type ClassifierConfig } from '../../actors/classifier.ts';
import type { ActorClass, ActorInputs, MemoryDeclaration, PreprocessDeclaration } from '../../shared/actorApi.ts';
import type { Column } from '../../shared/columns.ts';
import { IMAGENET_MEAN, IMAGENET_STD, type ImagePreprocess, type PreprocessSpec } from '../../shared/preprocess.ts';
import type { ResolvedModel } from '../model/modelSource.ts';
import { checkActorClass, importActorModule } from './actorClass.ts';
import { bundleActor, type BundledActor } from './bundleActor.ts';

export interface ResolvedActor {
  /** `built-in classifier`, or the module's path as given. */
  name: string;
  cls: ActorClass;
  /** The bundled module tabs fetch; null for the built-in, which every page carries. */
  module: BundledActor | null;
  /** `ctx.config`. */
  config: unknown;
  inputs: ActorInputs;
  columns: Column[];
  /** How image inputs are made ready (a tensor, or 'none': raw pixels); null for records and files. */
  preprocess: ImagePreprocess | null;
  memory: MemoryDeclaration | null;
}

/** The built-in classifier on `model` (which resolveModel inspected as one). */
export function builtinClassifier(model: ResolvedModel, o: { topK: number; logits: boolean }): ResolvedActor {
  const info = model.info!;
  const config: ClassifierConfig = {
    inputName: info.inputName,
    outputName: info.outputName,
    numClasses: info.numClasses,
    topK: Math.min(o.topK, info.numClasses),
    logits: o.logits,
    labels: model.labels,
    fixedBatch: info.inputShape.batch,
  };
  const { cls, shape } = checkActorClass(Classifier, 'built-in classifier', config);
  return {
    name: 'built-in classifier',
    cls,
    module: null,
    config,
    inputs: 'image',
    columns: shape.columns,
    preprocess: imagenet(info.inputShape.height, info.inputShape.width, {}),
    memory: null,
  };
}

/**
 * The user's actor module, bundled and checked with its config. `imageSize`: the model's input size
 * (jobFiles.ts), an image actor's default tensor size.
 */
export async function userActor(
  source: string,
  config: unknown,
  imageSize: { height: number; width: number } | null,
  cacheDir: string,
): Promise<ResolvedActor> {
  const module = await bundleActor(source, cacheDir);
  const { cls, shape } = checkActorClass(await importActorModule(module.file, source), source, config);
  let preprocess: ImagePreprocess | null = null;
  if (shape.inputs === 'image') {
    const d = shape.preprocess ?? {};
    if (d === 'none') preprocess = 'none';
    else {
      const size = d.size ?? (imageSize ? [imageSize.height, imageSize.width] : 224);
      const [h, w] = typeof size === 'number' ? [size, size] : size;
      preprocess = imagenet(h, w, d);
    }
  }
  return { name: source, cls, module, config, inputs: shape.inputs, columns: shape.columns, preprocess, memory: shape.memory };
}

/**
 * torchvision's recipe at `h`×`w`: the shorter side resized to 256/224 of the crop, ImageNet's mean and std, unless
 * declared otherwise; or with `crop: false`, one resize to `h`×`w`.
 */
function imagenet(h: number, w: number, d: PreprocessDeclaration): PreprocessSpec {
  return {
    height: h,
    width: w,
    resizeShorter: d.resize ?? Math.round((Math.min(h, w) * 256) / 224),
    mean: d.mean ?? IMAGENET_MEAN,
    std: d.std ?? IMAGENET_STD,
    crop: d.crop ?? true,
  };
}
