import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MAX_IMAGE_PIXELS, sniffImage, type ImageHeader } from '../../../shared/imageHeader.ts';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const be16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const le16 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff];
const le24 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff];
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const bytes = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());

function png(width: number, height: number): Uint8Array {
  const ihdr = [...be32(width), ...be32(height), 8, 6, 0, 0, 0];
  return bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], be32(13), ascii('IHDR'), ihdr, be32(0xdeadbeef));
}

/** A JPEG segment: marker, big-endian length (counting itself), payload. */
function segment(marker: number, payload: number[]): number[] {
  return [0xff, marker, ...be16(payload.length + 2), ...payload];
}

function sof(marker: number, width: number, height: number): number[] {
  return segment(marker, [8, ...be16(height), ...be16(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
}

const app0 = segment(0xe0, [...ascii('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const app1 = segment(0xe1, [...ascii('Exif\0\0'), ...new Array<number>(40).fill(0x2a)]);
const dqt = segment(0xdb, [0, ...new Array<number>(64).fill(1)]);
// Bytes that would read as 4097×4097 if DHT (C4) were mistaken for a frame header.
const dht = segment(0xc4, [0x00, 0x10, 0x01, 0x10, 0x01, ...new Array<number>(12).fill(0)]);
const sos = segment(0xda, [3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);

function gif(width: number, height: number, version = 'GIF89a'): Uint8Array {
  return bytes(ascii(version), le16(width), le16(height), [0xf7, 0, 0]);
}

function riff(chunk: string, body: number[]): Uint8Array {
  const payload = [...ascii('WEBP'), ...ascii(chunk), ...le32(body.length), ...body];
  return bytes(ascii('RIFF'), le32(payload.length), payload);
}
const vp8 = (w: number, h: number): Uint8Array => riff('VP8 ', [0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, ...le16(w), ...le16(h), 0, 0]);
function vp8l(w: number, h: number): Uint8Array {
  const bits = ((w - 1) | ((h - 1) << 14) | (1 << 28)) >>> 0;
  return riff('VP8L', [0x2f, ...le32(bits), 0, 0]);
}
const vp8x = (w: number, h: number): Uint8Array => riff('VP8X', [0x10, 0, 0, 0, ...le24(w - 1), ...le24(h - 1)]);

function bmp(width: number, height: number): Uint8Array {
  const info = [...le32(40), ...le32(width), ...le32(height), ...le16(1), ...le16(24), ...new Array<number>(24).fill(0)];
  return bytes(ascii('BM'), le32(54), le32(0), le32(54), info);
}

function expectOk(h: ImageHeader, format: string, width: number, height: number, mime: string): void {
  assert.deepEqual(h, { ok: true, format, width, height, mime });
}

function expectFail(h: ImageHeader, code: string, ...phrases: string[]): string {
  assert.equal(h.ok, false, `expected ${code}, got ${JSON.stringify(h)}`);
  if (h.ok) throw new Error('unreachable');
  assert.equal(h.code, code, h.message);
  for (const p of phrases) assert.ok(h.message.includes(p), `message "${h.message}" lacks "${p}"`);
  return h.message;
}

describe('sniffImage: PNG', () => {
  it('reads width and height from IHDR', () => {
    expectOk(sniffImage(png(640, 480)), 'png', 640, 480, 'image/png');
  });

  it('reads the size of a real PNG written by pngjs', () => {
    const img = new PNG({ width: 37, height: 21 });
    expectOk(sniffImage(new Uint8Array(PNG.sync.write(img))), 'png', 37, 21, 'image/png');
  });

  it('calls a PNG whose first chunk is not IHDR corrupt, naming the chunk', () => {
    const b = png(10, 10);
    b.set(ascii('CgBI'), 12);
    expectFail(sniffImage(b), 'CORRUPT_IMAGE', 'CgBI', 'IHDR');
  });

  it('calls a PNG cut off inside IHDR corrupt, with the byte counts', () => {
    expectFail(sniffImage(png(10, 10).subarray(0, 20)), 'CORRUPT_IMAGE', 'truncated', '20 bytes', '24');
  });

  it('calls a PNG cut off inside its signature corrupt', () => {
    expectFail(sniffImage(png(10, 10).subarray(0, 4)), 'CORRUPT_IMAGE', 'PNG', 'truncated');
  });

  it('refuses a 100000×100000 PNG as a decompression bomb, with the numbers', () => {
    const msg = expectFail(sniffImage(png(100_000, 100_000)), 'IMAGE_TOO_LARGE');
    assert.equal(msg, 'PNG header claims 100000×100000 pixels (10000 MP), over the 64 MP limit');
  });

  it('accepts an image of exactly MAX_IMAGE_PIXELS and refuses one row more', () => {
    assert.equal(MAX_IMAGE_PIXELS, 64_000_000);
    expectOk(sniffImage(png(8000, 8000)), 'png', 8000, 8000, 'image/png');
    expectFail(sniffImage(png(8000, 8001)), 'IMAGE_TOO_LARGE', '8000×8001', '64.01 MP');
  });

  it('calls a zero-width PNG corrupt', () => {
    expectFail(sniffImage(png(0, 10)), 'CORRUPT_IMAGE', '0×10');
  });
});

describe('sniffImage: JPEG', () => {
  it('finds a baseline SOF0 after APP0, APP1 (Exif), DQT and DHT segments', () => {
    const b = bytes([0xff, 0xd8], app0, app1, dqt, dht, sof(0xc0, 1024, 768), dht, sos);
    expectOk(sniffImage(b), 'jpeg', 1024, 768, 'image/jpeg');
  });

  it('finds a progressive SOF2 frame header', () => {
    const b = bytes([0xff, 0xd8], app0, dqt, sof(0xc2, 300, 200), dht, sos);
    expectOk(sniffImage(b), 'jpeg', 300, 200, 'image/jpeg');
  });

  it('finds every SOFn marker and never mistakes DHT, JPG or DAC for one', () => {
    for (let m = 0xc0; m <= 0xcf; m++) {
      const notSof = m === 0xc4 || m === 0xc8 || m === 0xcc;
      // A segment that would read as 4097×4097 if its marker were taken for a frame header.
      const decoy = segment(m, [8, ...be16(4097), ...be16(4097), 1, 1, 0x11, 0]);
      const b = notSof ? bytes([0xff, 0xd8], decoy, sof(0xc1, 50, 40)) : bytes([0xff, 0xd8], sof(m, 50, 40));
      expectOk(sniffImage(b), 'jpeg', 50, 40, 'image/jpeg');
    }
  });

  it('skips fill bytes before a marker and standalone RST markers', () => {
    const b = bytes([0xff, 0xd8], app0, [0xff, 0xff, 0xff], [0xff, 0xd0], dqt, [0xff, 0xff], sof(0xc0, 17, 9));
    expectOk(sniffImage(b), 'jpeg', 17, 9, 'image/jpeg');
  });

  it('reads the size of a real JPEG written by jpeg-js', () => {
    const width = 33;
    const height = 19;
    const encoded = jpeg.encode({ width, height, data: new Uint8Array(width * height * 4).fill(128) }, 90);
    expectOk(sniffImage(new Uint8Array(encoded.data)), 'jpeg', width, height, 'image/jpeg');
  });

  it('calls a JPEG cut off before its frame header corrupt', () => {
    const b = bytes([0xff, 0xd8], app0, app1, dqt, sof(0xc0, 64, 64));
    expectFail(sniffImage(b.subarray(0, 2 + app0.length + 10)), 'CORRUPT_IMAGE', 'JPEG', 'SOF');
    expectFail(sniffImage(b.subarray(0, b.length - 12)), 'CORRUPT_IMAGE', 'JPEG', 'truncated');
  });

  it('calls a JPEG that reaches its scan data without a frame header corrupt', () => {
    expectFail(sniffImage(bytes([0xff, 0xd8], app0, dqt, sos)), 'CORRUPT_IMAGE', 'SOS', 'SOF');
  });

  it('refuses a 65535×65535 JPEG as a decompression bomb', () => {
    expectFail(sniffImage(bytes([0xff, 0xd8], app0, sof(0xc0, 65535, 65535))), 'IMAGE_TOO_LARGE', '65535×65535', '4295 MP');
  });

  it('calls a JPEG with height 0 (deferred to a DNL marker) corrupt', () => {
    expectFail(sniffImage(bytes([0xff, 0xd8], sof(0xc0, 100, 0))), 'CORRUPT_IMAGE', '100×0');
  });
});

describe('sniffImage: GIF, WebP, BMP', () => {
  it('reads the logical screen size of GIF89a and GIF87a', () => {
    expectOk(sniffImage(gif(320, 240)), 'gif', 320, 240, 'image/gif');
    expectOk(sniffImage(gif(1, 2, 'GIF87a')), 'gif', 1, 2, 'image/gif');
  });

  it('calls a GIF cut off in its screen descriptor corrupt', () => {
    expectFail(sniffImage(gif(320, 240).subarray(0, 8)), 'CORRUPT_IMAGE', 'GIF', 'truncated');
  });

  it('reads lossy (VP8), lossless (VP8L) and extended (VP8X) WebP sizes', () => {
    expectOk(sniffImage(vp8(400, 301)), 'webp', 400, 301, 'image/webp');
    expectOk(sniffImage(vp8l(16383, 2)), 'webp', 16383, 2, 'image/webp');
    expectOk(sniffImage(vp8x(5000, 3000)), 'webp', 5000, 3000, 'image/webp');
  });

  it('refuses a VP8X WebP whose canvas is a decompression bomb', () => {
    expectFail(sniffImage(vp8x(16_000_000, 16_000_000)), 'IMAGE_TOO_LARGE', 'WebP', '16000000×16000000');
  });

  it('calls a WebP with a bad VP8 start code or an unknown first chunk corrupt', () => {
    const b = vp8(10, 10);
    b[24] = 0;
    expectFail(sniffImage(b), 'CORRUPT_IMAGE', '9D 01 2A');
    expectFail(sniffImage(riff('ALPH', new Array<number>(16).fill(0))), 'CORRUPT_IMAGE', 'ALPH');
  });

  it('calls a WebP cut off in its chunk header corrupt', () => {
    expectFail(sniffImage(vp8l(10, 10).subarray(0, 22)), 'CORRUPT_IMAGE', 'WebP', 'truncated');
  });

  it('does not take a RIFF WAVE file for WebP', () => {
    const wav = bytes(ascii('RIFF'), le32(36), ascii('WAVEfmt '), new Array<number>(20).fill(0));
    expectFail(sniffImage(wav), 'NOT_AN_IMAGE');
  });

  it('reads a bottom-up BMP and a top-down BMP (negative height)', () => {
    expectOk(sniffImage(bmp(120, 80)), 'bmp', 120, 80, 'image/bmp');
    expectOk(sniffImage(bmp(120, -80)), 'bmp', 120, 80, 'image/bmp');
  });

  it('reads an OS/2 BMP core header', () => {
    const b = bytes(ascii('BM'), le32(26), le32(0), le32(26), le32(12), le16(64), le16(32), le16(1), le16(24));
    expectOk(sniffImage(b), 'bmp', 64, 32, 'image/bmp');
  });

  it('calls a BMP cut off in its info header corrupt', () => {
    expectFail(sniffImage(bmp(10, 10).subarray(0, 20)), 'CORRUPT_IMAGE', 'BMP', 'truncated');
  });

  it('does not take text that starts with "BM" for a BMP', () => {
    expectFail(sniffImage(new TextEncoder().encode('BMW 320i, 1998, blue, 180000 km')), 'NOT_AN_IMAGE', 'BM');
  });
});

describe('sniffImage: non-images', () => {
  it('reports an empty file as EMPTY_FILE', () => {
    expectFail(sniffImage(new Uint8Array(0)), 'EMPTY_FILE', '0 bytes');
  });

  it('reports text as NOT_AN_IMAGE, showing its first bytes', () => {
    expectFail(sniffImage(new TextEncoder().encode('hello, world\n')), 'NOT_AN_IMAGE', '68 65 6C 6C', 'PNG, JPEG, GIF, WebP or BMP');
  });

  it('names a TIFF or a PDF it recognises but cannot use', () => {
    expectFail(sniffImage(bytes(ascii('II'), [0x2a, 0], le32(8))), 'NOT_AN_IMAGE', 'TIFF');
    expectFail(sniffImage(new TextEncoder().encode('%PDF-1.7\n')), 'NOT_AN_IMAGE', 'PDF');
  });

  it('names the other image formats it knows (ICO, SVG, AVIF, PSD) and refuses them', () => {
    const accepted = 'PNG, JPEG, GIF, WebP or BMP';
    expectFail(sniffImage(bytes([0, 0, 1, 0, 1, 0, 16, 16], new Array<number>(14).fill(0))), 'NOT_AN_IMAGE', 'ICO', accepted);
    expectFail(sniffImage(new TextEncoder().encode('<svg width="10" height="20"></svg>')), 'NOT_AN_IMAGE', 'SVG', accepted);
    expectFail(sniffImage(bytes(be32(20), ascii('ftypavif'), be32(0), ascii('avif'))), 'NOT_AN_IMAGE', 'AVIF', accepted);
    expectFail(sniffImage(bytes(ascii('8BPS'), [0, 1], new Array<number>(20).fill(0))), 'NOT_AN_IMAGE', 'PSD', accepted);
  });

  it('reports a single stray byte as NOT_AN_IMAGE', () => {
    expectFail(sniffImage(new Uint8Array([0x89])), 'NOT_AN_IMAGE');
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const h = sniffImage(b);
        return h.ok ? h.width > 0 && h.height > 0 && h.width * h.height <= MAX_IMAGE_PIXELS : h.message.length > 0;
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on a real signature followed by any bytes', () => {
    const signatures = [png(1, 1), bytes([0xff, 0xd8, 0xff]), gif(1, 1), vp8(1, 1), vp8l(1, 1), vp8x(1, 1), bmp(1, 1)];
    fc.assert(
      fc.property(fc.constantFrom(...signatures), fc.nat({ max: 30 }), fc.uint8Array({ maxLength: 64 }), (sig, keep, tail) => {
        const b = bytes(Array.from(sig.subarray(0, keep)), Array.from(tail));
        const h = sniffImage(b);
        return h.ok ? h.width > 0 && h.height > 0 && h.width * h.height <= MAX_IMAGE_PIXELS : h.message.length > 0;
      }),
      { numRuns: 5000 },
    );
  });

  it('calls every truncation of a valid header corrupt, never a different image', () => {
    const samples = [png(9, 7), bytes([0xff, 0xd8], app0, dqt, sof(0xc2, 9, 7)), gif(9, 7), vp8(9, 7), vp8l(9, 7), vp8x(9, 7), bmp(9, 7)];
    for (const full of samples) {
      const format = sniffImage(full);
      assert.ok(format.ok);
      for (let n = 2; n < full.length; n++) {
        const h = sniffImage(full.subarray(0, n));
        if (h.ok) assert.deepEqual(h, format, `prefix of ${n} bytes`);
        else assert.equal(h.code, 'CORRUPT_IMAGE', `${format.format} prefix of ${n} bytes: ${h.message}`);
      }
    }
  });
});
