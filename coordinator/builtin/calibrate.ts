/**
 * Makes a randomly initialised ResNet's top-1 depend on the image. Left alone, a random network's
 * activations drift layer by layer until one class wins for every input. This runs the network in
 * plain JavaScript over a few sample images, layer by layer, and
 *
 * 1. sets every BatchNormalization's running mean and variance to the statistics it sees there, so
 *    each BN outputs zero-mean, unit-variance channels, as after training;
 * 2. standardises the pooled features (per-channel mean and standard deviation over the images)
 *    and folds that into the fully connected layer, so the logits respond to how an image differs
 *    from the others rather than to what all images share.
 *
 * All arithmetic is float64 in a fixed order (see forward.ts), so the result is reproducible.
 */
import {
  addInPlace,
  batchNormInPlace,
  channelStats,
  conv2d,
  globalAveragePool,
  maxPool,
  packConv,
  reluInPlace,
  type FeatureMap,
} from './forward.ts';
import { BN_EPSILON, type ConvBn, type ResNetTopology } from './resnetTopology.ts';
import { tensor, type ResNetWeights } from './weightMap.ts';

/**
 * Added to every pooled feature's variance, as a multiple of the mean variance: a channel that
 * barely varied over the few calibration images must not be blown up on all other images.
 */
const FEATURE_VARIANCE_FLOOR = 1;

/** Runs conv + BN over every image, first setting the BN's running statistics from what it sees. */
function calibratedConvBn(xs: readonly FeatureMap[], layer: ConvBn, w: ResNetWeights): FeatureMap[] {
  const packed = packConv(tensor(w, `${layer.conv}.weight`), layer);
  const ys = xs.map((x) => conv2d(x, packed));
  const { mean, variance } = channelStats(ys);
  const runningMean = tensor(w, `${layer.bn}.running_mean`);
  const runningVar = tensor(w, `${layer.bn}.running_var`);
  runningMean.set(mean);
  runningVar.set(variance);
  const gamma = tensor(w, `${layer.bn}.weight`);
  const beta = tensor(w, `${layer.bn}.bias`);
  const scale = new Float64Array(layer.outChannels);
  const shift = new Float64Array(layer.outChannels);
  for (let c = 0; c < layer.outChannels; c++) {
    // From the stored float32 values, so the pass sees what the exported model computes.
    scale[c] = gamma[c]! / Math.sqrt(runningVar[c]! + BN_EPSILON);
    shift[c] = beta[c]! - runningMean[c]! * scale[c]!;
  }
  for (const y of ys) batchNormInPlace(y, scale, shift);
  return ys;
}

/** Calibrates `w` in place from `images`: preprocessed [3, size, size] tensors. */
export function calibrate(t: ResNetTopology, w: ResNetWeights, images: readonly Float32Array[], size: number): void {
  if (images.length < 2) throw new RangeError('calibration needs at least two images');
  let xs: FeatureMap[] = images.map((img) => ({ channels: 3, height: size, width: size, data: Float64Array.from(img) }));

  xs = calibratedConvBn(xs, t.stem, w);
  xs.forEach(reluInPlace);
  xs = xs.map((x) => maxPool(x, 3, 2, 1));

  for (const block of t.blocks) {
    const h = calibratedConvBn(xs, block.conv1, w);
    h.forEach(reluInPlace);
    const out = calibratedConvBn(h, block.conv2, w);
    const identity = block.downsample ? calibratedConvBn(xs, block.downsample, w) : xs;
    out.forEach((o, i) => {
      addInPlace(o, identity[i]!);
      reluInPlace(o);
    });
    xs = out;
  }

  foldFeatureStandardisation(t, w, xs.map(globalAveragePool));
}

/** fc(x) becomes fc((x - mean) / std): W' = W / std, b' = b - W' · mean. */
function foldFeatureStandardisation(t: ResNetTopology, w: ResNetWeights, pooled: readonly Float64Array[]): void {
  const n = t.features;
  const mean = new Float64Array(n);
  const variance = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    let sum = 0;
    for (const f of pooled) sum += f[c]!;
    mean[c] = sum / pooled.length;
    let sq = 0;
    for (const f of pooled) sq += (f[c]! - mean[c]!) * (f[c]! - mean[c]!);
    variance[c] = sq / pooled.length;
  }
  let meanVariance = 0;
  for (let c = 0; c < n; c++) meanVariance += variance[c]!;
  meanVariance /= n;
  const invStd = new Float64Array(n);
  for (let c = 0; c < n; c++) invStd[c] = 1 / Math.sqrt(variance[c]! + FEATURE_VARIANCE_FLOOR * meanVariance);

  const weight = tensor(w, 'fc.weight');
  const bias = tensor(w, 'fc.bias');
  for (let j = 0; j < t.classes; j++) {
    let b = bias[j]!;
    for (let c = 0; c < n; c++) {
      const scaled = Math.fround(weight[j * n + c]! * invStd[c]!);
      weight[j * n + c] = scaled;
      b -= scaled * mean[c]!;
    }
    bias[j] = b;
  }
}
