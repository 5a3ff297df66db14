/**
 * A small zlib (RFC 1950/1951) compressor in plain JavaScript, used for the sample PNGs instead of
 * Node's zlib: zlib's output may change with its version and, in Chromium's fork that Node ships,
 * with the CPU's SIMD support, and the sample files must be the same bytes on every machine.
 *
 * One fixed-Huffman block, greedy LZ77 with one step of lazy matching over a 32 KiB window. The
 * result is within a few tens of percent of zlib -9 on the smooth synthetic images it is used for.
 */

const WINDOW = 32768;
const HASH_BITS = 15;
const HASH_SIZE = 1 << HASH_BITS;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const MAX_CHAIN = 48;
/** A match this long is taken at once, without searching the chain for a longer one. */
const NICE_MATCH = 128;
/** A 3-byte match further back than this costs more bits than three literals. */
const FAR_THREE = 4096;

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

function reverseBits(code: number, length: number): number {
  let r = 0;
  for (let i = 0; i < length; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
}

/** RFC 1951 3.2.6: the fixed literal/length code, bit-reversed for an LSB-first stream. */
const FIXED_CODE = new Uint16Array(288);
const FIXED_LENGTH = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  let code: number;
  let length: number;
  if (s < 144) [code, length] = [0x30 + s, 8];
  else if (s < 256) [code, length] = [0x190 + s - 144, 9];
  else if (s < 280) [code, length] = [s - 256, 7];
  else [code, length] = [0xc0 + s - 280, 8];
  FIXED_CODE[s] = reverseBits(code, length);
  FIXED_LENGTH[s] = length;
}

/** Length 3..258 to its code index 0..28. */
const LENGTH_INDEX = new Uint8Array(MAX_MATCH + 1);
for (let i = 0; i < LENGTH_BASE.length; i++) {
  const end = i + 1 < LENGTH_BASE.length ? LENGTH_BASE[i + 1]! : MAX_MATCH + 1;
  for (let l = LENGTH_BASE[i]!; l < end; l++) LENGTH_INDEX[l] = i;
}
LENGTH_INDEX[MAX_MATCH] = 28;

function distanceIndex(d: number): number {
  let lo = 0;
  let hi = DIST_BASE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (DIST_BASE[mid]! <= d) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

class BitWriter {
  private out: Uint8Array;
  private length = 0;
  private bits = 0;
  private count = 0;

  constructor(capacity: number) {
    this.out = new Uint8Array(Math.max(64, capacity));
  }

  byte(b: number): void {
    if (this.length === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.length++] = b;
  }

  /** Writes the low `n` bits of `value`, least significant first; n <= 16. */
  write(value: number, n: number): void {
    this.bits |= value << this.count;
    this.count += n;
    while (this.count >= 8) {
      this.byte(this.bits & 0xff);
      this.bits >>>= 8;
      this.count -= 8;
    }
  }

  flushBits(): void {
    if (this.count > 0) this.byte(this.bits & 0xff);
    this.bits = 0;
    this.count = 0;
  }

  bytes(): Uint8Array {
    return this.out.slice(0, this.length);
  }
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(i + 3800, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function writeSymbol(w: BitWriter, s: number): void {
  w.write(FIXED_CODE[s]!, FIXED_LENGTH[s]!);
}

function writeMatch(w: BitWriter, length: number, distance: number): void {
  const li = LENGTH_INDEX[length]!;
  writeSymbol(w, 257 + li);
  if (LENGTH_EXTRA[li]! > 0) w.write(length - LENGTH_BASE[li]!, LENGTH_EXTRA[li]!);
  const di = distanceIndex(distance);
  // Fixed distance codes are 5 bits, sent most significant bit first.
  w.write(reverseBits(di, 5), 5);
  if (DIST_EXTRA[di]! > 0) w.write(distance - DIST_BASE[di]!, DIST_EXTRA[di]!);
}

/** Compresses `data` into a zlib stream. The output depends only on the input bytes. */
export function zlibDeflate(data: Uint8Array): Uint8Array {
  const n = data.length;
  const w = new BitWriter((n >> 2) + 64);
  w.byte(0x78);
  w.byte(0x01);
  w.write(1, 1); // BFINAL
  w.write(1, 2); // BTYPE = fixed Huffman

  const head = new Int32Array(HASH_SIZE).fill(-1);
  const prev = new Int32Array(WINDOW);
  const hashAt = (p: number): number => ((data[p]! << 10) ^ (data[p + 1]! << 5) ^ data[p + 2]!) & (HASH_SIZE - 1);
  const insert = (p: number): void => {
    if (p + MIN_MATCH > n) return;
    const h = hashAt(p);
    prev[p & (WINDOW - 1)] = head[h]!;
    head[h] = p;
  };
  /** Longest earlier match at p as length * 65536 + distance, or 0; p must not be inserted yet. */
  const longest = (p: number): number => {
    if (p + MIN_MATCH > n) return 0;
    const limit = Math.min(MAX_MATCH, n - p);
    let best = 0;
    let bestDistance = 0;
    let candidate = head[hashAt(p)]!;
    for (let chain = 0; chain < MAX_CHAIN && candidate >= 0 && p - candidate <= WINDOW; chain++) {
      if (data[candidate + best] === data[p + best]) {
        let l = 0;
        while (l < limit && data[candidate + l] === data[p + l]) l++;
        if (l > best) {
          best = l;
          bestDistance = p - candidate;
          if (l >= NICE_MATCH || l === limit) break;
        }
      }
      candidate = prev[candidate & (WINDOW - 1)]!;
    }
    if (best < MIN_MATCH || (best === MIN_MATCH && bestDistance > FAR_THREE)) return 0;
    return best * 65536 + bestDistance;
  };

  let p = 0;
  let pending = longest(0);
  while (p < n) {
    if (pending === 0) {
      writeSymbol(w, data[p]!);
      insert(p);
      p++;
      pending = longest(p);
      continue;
    }
    const length = Math.floor(pending / 65536);
    insert(p);
    const next = length < NICE_MATCH ? longest(p + 1) : 0;
    if (next !== 0 && Math.floor(next / 65536) > length) {
      writeSymbol(w, data[p]!);
      p++;
      pending = next;
      continue;
    }
    writeMatch(w, length, pending % 65536);
    for (let q = p + 1; q < p + length; q++) insert(q);
    p += length;
    pending = longest(p);
  }
  writeSymbol(w, 256);
  w.flushBits();
  const check = adler32(data);
  w.byte(check >>> 24);
  w.byte((check >>> 16) & 0xff);
  w.byte((check >>> 8) & 0xff);
  w.byte(check & 0xff);
  return w.bytes();
}
