/**
 * A folder mixing good images of every layout browsers must decode (grey, grey+alpha, palette,
 * opaque RGBA, 16-bit, JPEG) with each kind of bad input, and the error code each bad one must get.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A PNG from raw scanlines; pngjs cannot write palette images, so the test writes its own. */
function rawPng(width: number, height: number, bitDepth: number, colorType: number, rows: Buffer[], extra: Buffer[] = []): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const scan = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), r])));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', zlib.deflateSync(scan)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function pattern(x: number, y: number, c: number, seed: number): number {
  return (x * (3 + c) + y * (5 + seed) + ((x * y) >> 3) * (c + 1) + seed * 40) & 0xff;
}

export interface MixedFolder {
  good: { id: string; path: string; exact: boolean }[];
  bad: { id: string; code: string }[];
}

export async function writeMixedFolder(dir: string, size = 224): Promise<MixedFolder> {
  await fs.mkdir(dir, { recursive: true });
  const good: MixedFolder['good'] = [];
  const bad: MixedFolder['bad'] = [];
  const put = async (name: string, bytes: Uint8Array, exact = true): Promise<void> => {
    await fs.writeFile(path.join(dir, name), bytes);
    good.push({ id: name, path: path.join(dir, name), exact });
  };
  const w = size;
  const h = size;
  const rows = (bpp: number, f: (x: number, y: number) => number[]): Buffer[] =>
    Array.from({ length: h }, (_, y) =>
      Buffer.from(
        Array.from({ length: w }, (_, x) => f(x, y))
          .flat()
          .slice(0, w * bpp),
      ),
    );

  await put(
    'rgb.png',
    rawPng(
      w,
      h,
      8,
      2,
      rows(3, (x, y) => [pattern(x, y, 0, 1), pattern(x, y, 1, 1), pattern(x, y, 2, 1)]),
    ),
  );
  await put(
    'grey.png',
    rawPng(
      w,
      h,
      8,
      0,
      rows(1, (x, y) => [pattern(x, y, 0, 2)]),
    ),
  );
  await put(
    'grey-alpha.png',
    rawPng(
      w,
      h,
      8,
      4,
      rows(2, (x, y) => [pattern(x, y, 1, 3), 255]),
    ),
  );
  await put(
    'rgba-opaque.png',
    rawPng(
      w,
      h,
      8,
      6,
      rows(4, (x, y) => [pattern(x, y, 0, 4), pattern(x, y, 2, 4), pattern(x, y, 1, 4), 255]),
    ),
  );
  // 16-bit samples whose high byte is the colour and low byte repeats it, so 8-bit reduction is exact either way.
  await put(
    'rgb16.png',
    rawPng(
      w,
      h,
      16,
      2,
      rows(6, (x, y) => [0, 1, 2].flatMap((c) => [pattern(x, y, c, 5), pattern(x, y, c, 5)])),
    ),
  );
  const palette = Buffer.from(Array.from({ length: 256 }, (_, i) => [i, (i * 7) & 0xff, 255 - i]).flat());
  await put(
    'palette.png',
    rawPng(
      w,
      h,
      8,
      3,
      rows(1, (x, y) => [pattern(x, y, 0, 6)]),
      [chunk('PLTE', palette)],
    ),
  );
  const jpegData = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 4; c++) jpegData[i * 4 + c] = c === 3 ? 255 : pattern(i % w, Math.floor(i / w), c, 7);
  await put('photo.jpg', jpeg.encode({ data: jpegData, width: w, height: h }, 95).data, false);
  // jpeg-js cannot write CMYK, so this one is a fixture (ImageMagick: -colorspace CMYK, Adobe APP14, 224×224).
  await put('cmyk.jpg', await fs.readFile(new URL('../fixtures/cmyk.jpg', import.meta.url)), false);

  const goodPng = PNG.sync.write(Object.assign(new PNG({ width: w, height: h }), { data: Buffer.alloc(w * h * 4, 200) }));
  const addBad = async (name: string, code: string, bytes: Uint8Array | null): Promise<void> => {
    if (bytes) await fs.writeFile(path.join(dir, name), bytes);
    bad.push({ id: name, code });
  };
  await addBad('truncated.png', 'CORRUPT_IMAGE', goodPng.subarray(0, Math.floor(goodPng.length / 3)));
  await addBad('empty.png', 'EMPTY_FILE', new Uint8Array(0));
  await addBad('notes.jpg', 'NOT_AN_IMAGE', Buffer.from('these are my notes, not a picture\n'));
  const bomb = rawPng(1, 1, 8, 2, [Buffer.from([1, 2, 3])]);
  bomb.writeUInt32BE(100_000, 16);
  bomb.writeUInt32BE(100_000, 20);
  await addBad('bomb.png', 'IMAGE_TOO_LARGE', bomb);
  const garbled = Buffer.from(jpeg.encode({ data: jpegData, width: w, height: h }, 90).data);
  garbled.fill(0x00, 700, garbled.length - 2);
  await addBad('garbled.jpg', 'CORRUPT_IMAGE', null);
  await fs.writeFile(path.join(dir, 'garbled.jpg'), garbled.subarray(0, 800));
  await fs.symlink(path.join(dir, 'no-such-target.png'), path.join(dir, 'dangling.png'));
  bad.push({ id: 'dangling.png', code: 'UNREADABLE_FILE' });
  return { good, bad };
}
