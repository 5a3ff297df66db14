/**
 * The built-in model's weights, keyed by torchvision's state_dict names (`layer2.0.conv1.weight`,
 * `layer2.0.downsample.1.running_var`, `fc.bias`, …): seeded uniform initialisation, then
 * calibration on sample images so the top-1 follows the picture.
 */
import { preprocessSpecFor } from '../../shared/preprocess.ts';
import { calibrationPreprocess } from './calibrationPreprocess.ts';
import { samplePixels, SAMPLE_COUNT } from './sampleImages.ts';
import { calibrate } from './calibrate.ts';
import { Prng } from './prng.ts';
import { tensor, type ResNetWeights } from './weightMap.ts';

export { tensor, type ResNetWeights };
import { convBns, resnetTopology, type ResNetTopology, type ResNetVariant } from './resnetTopology.ts';

const SEED = 0x7ab9018;

/** How many sample images the calibration pass runs, evenly spread over the dataset. */
export const CALIBRATION_IMAGES: Readonly<Record<ResNetVariant, number>> = { resnet18: 8, tiny: 48 };

/** Scales the fc weights so that logits spread over a few units: a softmax neither flat nor one-hot. */
const FC_GAIN = 1.5;

function uniform(length: number, bound: number, r: Prng): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (r.uniform() * 2 - 1) * bound;
  return out;
}

/**
 * Uncalibrated weights: convolutions uniform with torchvision's variance (kaiming, fan_out,
 * ReLU gain: bound √(6 / fan_out)), BN at identity, fc uniform. Each layer has its own PRNG stream.
 */
export function initialWeights(t: ResNetTopology): ResNetWeights {
  const w: ResNetWeights = new Map();
  convBns(t).forEach((layer, i) => {
    const fanOut = layer.outChannels * layer.kernel * layer.kernel;
    const count = fanOut * layer.inChannels;
    w.set(`${layer.conv}.weight`, uniform(count, Math.sqrt(6 / fanOut), new Prng(SEED, i)));
    w.set(`${layer.bn}.weight`, new Float32Array(layer.outChannels).fill(1));
    w.set(`${layer.bn}.bias`, new Float32Array(layer.outChannels));
    w.set(`${layer.bn}.running_mean`, new Float32Array(layer.outChannels));
    w.set(`${layer.bn}.running_var`, new Float32Array(layer.outChannels).fill(1));
  });
  const fc = new Prng(SEED, 1000);
  w.set('fc.weight', uniform(t.classes * t.features, (FC_GAIN * Math.sqrt(3)) / Math.sqrt(t.features), fc));
  w.set('fc.bias', new Float32Array(t.classes));
  return w;
}

/**
 * Indices of the calibration images: 37·i mod 256 visits every index once, spreads over the whole
 * dataset, and (37 ≡ 1 mod 12, odd) cycles through all twelve backgrounds and alternates PNG/JPEG.
 */
export function calibrationIndices(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i * 37) % SAMPLE_COUNT);
}

/** Initialised and calibrated weights of a variant; computed afresh on every call (seconds). */
export function computeWeights(variant: ResNetVariant): ResNetWeights {
  const t = resnetTopology(variant);
  const w = initialWeights(t);
  const spec = preprocessSpecFor(t.inputSize, t.inputSize);
  const images = calibrationIndices(CALIBRATION_IMAGES[variant]).map((i) => calibrationPreprocess(samplePixels(i), spec));
  calibrate(t, w, images, t.inputSize);
  return w;
}

const cache = new Map<ResNetVariant, ResNetWeights>();

/** `computeWeights`, memoised per process: the weights never change, and computing them takes seconds. */
export function builtinWeights(variant: ResNetVariant): ResNetWeights {
  let w = cache.get(variant);
  if (!w) {
    w = computeWeights(variant);
    cache.set(variant, w);
  }
  return w;
}
