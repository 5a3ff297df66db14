/**
 * torchvision's ResNet-18 as data: the stem, eight BasicBlocks and the head, with the
 * torchvision state_dict names of every weight. The ONNX emitter and the pure-JS forward pass both
 * walk this one description, so they cannot disagree about the network.
 */

export type ResNetVariant = 'resnet18' | 'tiny';

export const RESNET_VARIANTS: readonly ResNetVariant[] = ['resnet18', 'tiny'];

/** A convolution without bias followed by BatchNormalization, as torchvision always pairs them. */
export interface ConvBn {
  /** state_dict prefix of the convolution, e.g. `layer2.0.conv1` or `layer2.0.downsample.0`. */
  conv: string;
  /** state_dict prefix of its BatchNormalization, e.g. `layer2.0.bn1` or `layer2.0.downsample.1`. */
  bn: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
}

/** A BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the identity or a 1x1 downsample, then ReLU. */
export interface BasicBlock {
  /** e.g. `layer3.0`. */
  name: string;
  conv1: ConvBn;
  conv2: ConvBn;
  downsample: ConvBn | null;
}

export interface ResNetTopology {
  variant: ResNetVariant;
  /** Square input side in pixels. */
  inputSize: number;
  classes: number;
  /** conv1 (7x7/2) + bn1; ReLU and MaxPool 3x3/2 pad 1 follow. */
  stem: ConvBn;
  blocks: BasicBlock[];
  /** Channels into the fully connected layer. */
  features: number;
}

/** BatchNormalization epsilon, torch's default. */
export const BN_EPSILON = 1e-5;

const WIDTHS: Readonly<Record<ResNetVariant, readonly [number, number, number, number]>> = {
  resnet18: [64, 128, 256, 512],
  tiny: [8, 16, 32, 64],
};

const INPUT_SIZE: Readonly<Record<ResNetVariant, number>> = { resnet18: 224, tiny: 64 };

function convBn(conv: string, bn: string, inChannels: number, outChannels: number, kernel: number, stride: number): ConvBn {
  return { conv, bn, inChannels, outChannels, kernel, stride, pad: (kernel - 1) >> 1 };
}

export function resnetTopology(variant: ResNetVariant): ResNetTopology {
  const widths = WIDTHS[variant];
  const stem = convBn('conv1', 'bn1', 3, widths[0], 7, 2);
  const blocks: BasicBlock[] = [];
  let inChannels = widths[0];
  widths.forEach((width, stage) => {
    for (let i = 0; i < 2; i++) {
      const name = `layer${stage + 1}.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const needsDownsample = stride !== 1 || inChannels !== width;
      blocks.push({
        name,
        conv1: convBn(`${name}.conv1`, `${name}.bn1`, inChannels, width, 3, stride),
        conv2: convBn(`${name}.conv2`, `${name}.bn2`, width, width, 3, 1),
        downsample: needsDownsample ? convBn(`${name}.downsample.0`, `${name}.downsample.1`, inChannels, width, 1, stride) : null,
      });
      inChannels = width;
    }
  });
  return { variant, inputSize: INPUT_SIZE[variant], classes: 1000, stem, blocks, features: inChannels };
}

/** Every conv+BN pair in forward order. */
export function convBns(t: ResNetTopology): ConvBn[] {
  const all = [t.stem];
  for (const b of t.blocks) {
    all.push(b.conv1, b.conv2);
    if (b.downsample) all.push(b.downsample);
  }
  return all;
}

/**
 * Trainable parameters counted as torch counts them: conv weights, BN weight and bias, fc weight
 * and bias. BN running mean and variance are buffers, not parameters.
 */
export function parameterCount(t: ResNetTopology): number {
  let n = 0;
  for (const c of convBns(t)) n += c.outChannels * c.inChannels * c.kernel * c.kernel + 2 * c.outChannels;
  return n + t.features * t.classes + t.classes;
}
