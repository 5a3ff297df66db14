/**
 * The images test/integration/shared/pillowParity.test.ts runs through Pillow and through tabpool's
 * decoding and preprocessing: seeded, awkward sizes, every PNG layout, and both resize recipes
 * (torchvision's resize + centre crop, and Ray's plain resize to a size).
 */
import { preprocessSpecFor, type PreprocessSpec } from '../../shared/preprocess.ts';
import type { PngImage } from './pngEncode.ts';
import { mulberry32 } from './testImages.ts';

export interface ParityCase {
  name: string;
  png: PngImage;
  spec: PreprocessSpec;
}

type Style = 'photo' | 'noise' | 'checker' | 'white' | 'black';

/** `channels` 8-bit samples per pixel: `photo` is gradients and blobs with a little grain. */
function samples8(width: number, height: number, channels: number, seed: number, style: Style): Uint8Array {
  const rand = mulberry32(seed);
  const out = new Uint8Array(width * height * channels);
  const phase = Array.from({ length: channels }, () => rand() * 6.28);
  const freq = 2 + rand() * 10;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const i = (y * width + x) * channels + c;
        if (style === 'noise') out[i] = Math.floor(rand() * 256);
        else if (style === 'checker') out[i] = ((x >> 1) + (y >> 1) + c) % 2 ? 255 : 0;
        else if (style === 'white') out[i] = 255;
        else if (style === 'black') out[i] = 0;
        else {
          const u = x / Math.max(1, width - 1);
          const v = y / Math.max(1, height - 1);
          const wave = Math.sin(freq * (u + 0.7 * v) + phase[c]!) * 0.5 + 0.5;
          out[i] = Math.min(255, Math.floor(200 * wave * (0.6 + 0.4 * u) + rand() * 56));
        }
      }
    }
  }
  return out;
}

function uniform(length: number, max: number, seed: number): Uint16Array {
  const rand = mulberry32(seed);
  return Uint16Array.from({ length }, () => Math.floor(rand() * (max + 1)));
}

const SPEC = preprocessSpecFor(224, 224);

function rgb(width: number, height: number, seed: number, style: Style = 'photo', spec = SPEC, label = ''): ParityCase {
  return {
    name: `RGB 8-bit ${width}×${height}${style === 'photo' ? '' : ` ${style}`}${label}`,
    png: { width, height, colorType: 2, bitDepth: 8, samples: samples8(width, height, 3, seed, style) },
    spec,
  };
}

function palette(width: number, height: number, bitDepth: 1 | 2 | 4 | 8, seed: number, withAlpha: boolean): ParityCase {
  const n = 2 ** bitDepth;
  const rand = mulberry32(seed + 1);
  const colours = Array.from({ length: n }, () => [0, 0, 0].map(() => Math.floor(rand() * 256)) as [number, number, number]);
  return {
    name: `palette ${bitDepth}-bit ${width}×${height}${withAlpha ? ' with tRNS alpha' : ''}`,
    png: {
      width,
      height,
      colorType: 3,
      bitDepth,
      samples: uniform(width * height, n - 1, seed),
      palette: colours,
      transparency: withAlpha ? colours.map((_, i) => (i * 37) % 256) : undefined,
    },
    spec: SPEC,
  };
}

function grey(width: number, height: number, bitDepth: 1 | 2 | 4 | 8 | 16, seed: number): ParityCase {
  const samples = bitDepth === 8 ? samples8(width, height, 1, seed, 'photo') : uniform(width * height, 2 ** bitDepth - 1, seed);
  return {
    name: `grey ${bitDepth}-bit ${width}×${height}`,
    png: { width, height, colorType: 0, bitDepth, samples },
    spec: SPEC,
  };
}

/** The cases, in a fixed order. */
export function parityCases(): ParityCase[] {
  const wide = preprocessSpecFor(224, 448);
  const tall = preprocessSpecFor(448, 224);
  const keyed = samples8(160, 120, 3, 61, 'noise');
  for (let i = 0; i < 160 * 120; i += 7) keyed.set([10, 20, 30], i * 3);
  const keyedGrey = samples8(150, 110, 1, 62, 'noise');
  for (let i = 0; i < keyedGrey.length; i += 5) keyedGrey[i] = 77;
  return [
    rgb(640, 480, 1),
    rgb(480, 640, 2),
    rgb(2000, 1500, 3),
    rgb(1, 1, 4, 'noise'),
    rgb(2, 3, 5, 'noise'),
    rgb(1, 300, 6, 'noise'),
    rgb(300, 1, 7, 'noise'),
    rgb(257, 255, 8, 'noise'),
    rgb(255, 257, 9, 'noise'),
    rgb(3000, 17, 10),
    rgb(17, 3000, 11),
    rgb(256, 256, 12, 'noise', SPEC, ' (resize is the identity)'),
    rgb(256, 301, 13, 'noise', SPEC, ' (shorter side already 256)'),
    rgb(401, 256, 14, 'noise', SPEC, ' (shorter side already 256)'),
    rgb(100, 80, 15, 'noise', SPEC, ' (upscale)'),
    rgb(224, 224, 16, 'noise', SPEC, ' (upscale 224 → 256)'),
    rgb(511, 383, 17),
    rgb(1023, 769, 18, 'noise'),
    rgb(413, 297, 19, 'checker'),
    rgb(500, 400, 20, 'white', SPEC, ' (taps summing past 2²² clip at 255)'),
    rgb(333, 222, 21, 'black'),
    rgb(640, 480, 22, 'photo', wide, ', 224×448 input (crop wider than the resize: padded)'),
    rgb(480, 640, 23, 'photo', tall, ', 448×224 input (crop taller than the resize: padded)'),
    rgb(640, 480, 24, 'photo', preprocessSpecFor(299, 299), ', 299×299 input'),
    rgb(500, 375, 25, 'noise', preprocessSpecFor(96, 96), ', 96×96 input'),
    rgb(50, 30, 26, 'noise', preprocessSpecFor(64, 200), ', 64×200 input (padded both sides of the width)'),
    rgb(640, 480, 27, 'photo', { ...SPEC, mean: [0.5, 0.25, 0.125], std: [0.5, 0.3, 0.7] }, ', its own mean and std'),
    rgb(640, 480, 28, 'photo', { ...SPEC, crop: false }, ', resized to 224×224 without a crop (Ray read_images(size=…))'),
    rgb(37, 500, 29, 'noise', { ...preprocessSpecFor(48, 320), crop: false }, ', resized to 48×320 without a crop (upscale one side)'),
    {
      name: 'RGBA 8-bit 320×240 (alpha dropped, not premultiplied)',
      png: { width: 320, height: 240, colorType: 6, bitDepth: 8, samples: samples8(320, 240, 4, 30, 'noise') },
      spec: SPEC,
    },
    grey(333, 250, 8, 31),
    {
      name: 'grey + alpha 8-bit 200×300',
      png: { width: 200, height: 300, colorType: 4, bitDepth: 8, samples: samples8(200, 300, 2, 32, 'noise') },
      spec: SPEC,
    },
    grey(90, 60, 1, 33),
    grey(61, 45, 2, 34),
    grey(77, 99, 4, 35),
    palette(300, 200, 8, 36, false),
    palette(250, 250, 8, 37, true),
    palette(123, 77, 4, 38, false),
    palette(64, 64, 1, 39, true),
    palette(45, 70, 2, 40, false),
    grey(300, 260, 16, 41),
    {
      name: 'RGB 16-bit 240×180',
      png: { width: 240, height: 180, colorType: 2, bitDepth: 16, samples: uniform(240 * 180 * 3, 65535, 42) },
      spec: SPEC,
    },
    {
      name: 'RGB 16-bit 240×180, samples 257·k (exact 8-bit values)',
      png: { width: 240, height: 180, colorType: 2, bitDepth: 16, samples: uniform(240 * 180 * 3, 255, 43).map((v) => v * 257) },
      spec: SPEC,
    },
    {
      name: 'RGBA 16-bit 200×150',
      png: { width: 200, height: 150, colorType: 6, bitDepth: 16, samples: uniform(200 * 150 * 4, 65535, 44) },
      spec: SPEC,
    },
    {
      name: 'grey + alpha 16-bit 150×100',
      png: { width: 150, height: 100, colorType: 4, bitDepth: 16, samples: uniform(150 * 100 * 2, 65535, 45) },
      spec: SPEC,
    },
    {
      name: 'RGB 8-bit 160×120 with a tRNS colour key',
      png: { width: 160, height: 120, colorType: 2, bitDepth: 8, samples: keyed, transparency: [10, 20, 30] },
      spec: SPEC,
    },
    {
      name: 'grey 8-bit 150×110 with a tRNS colour key',
      png: { width: 150, height: 110, colorType: 0, bitDepth: 8, samples: keyedGrey, transparency: [77] },
      spec: SPEC,
    },
  ];
}
