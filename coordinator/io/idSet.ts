/**
 * An exact set of input ids, for spotting ids a manifest repeats, in far less memory than a
 * Set<string>: each id's UTF-8 bytes, after their length (a varint, one byte for ids under 128
 * bytes), sit end to end in 1 MiB chunks that are never copied, and an open-addressing table holds,
 * per slot, an id's 32-bit hash and where it starts. A hash match is only a candidate: the bytes
 * are compared before an id counts as seen, so two different ids are never taken for one, whatever
 * their hashes.
 *
 * Memory: the ids' bytes and a byte or two of length each (wasting at most one chunk), plus 8 bytes
 * a slot (hash, position), the table kept at most three quarters full (linear probing stays short
 * at that load). The job uses it for repeated manifest ids, and --resume for the ids already written
 * (bench: `resume.m1M`, the set against a Set<string> of the same ids).
 */

/** What the job asks of the ids already written: one type for the set here and a test's Set<string>. */
export interface IdLookup extends Iterable<string> {
  has(id: string): boolean;
  readonly size: number;
}
/** A hash of the first `length` bytes. */
export type IdHash = (bytes: Uint8Array, length: number) => number;

/** FNV-1a over the UTF-8 bytes. */
export const fnv1a: IdHash = (bytes, length) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = 0xffffffff;
/** A position is a chunk's number (high 12 bits) and an offset in it (low 20 bits). */
const CHUNK_BITS = 20;
const CHUNK = 1 << CHUNK_BITS;
const MAX_CHUNKS = 4095;

export class IdSet {
  /** 1 MiB each, but for an id longer than that, which gets a chunk of its own. */
  private readonly chunks: Uint8Array[] = [];
  /** Bytes used in the last chunk. */
  private used = CHUNK;
  /** Per slot: hash, and position (EMPTY when free). */
  private hashes: Uint32Array;
  private positions: Uint32Array;
  private count = 0;

  /** `hash` is replaceable so tests can force collisions. */
  constructor(
    capacity = 1024,
    private readonly hash: IdHash = fnv1a,
  ) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(16, Math.ceil((capacity * 4) / 3))));
    this.hashes = new Uint32Array(slots);
    this.positions = new Uint32Array(slots).fill(EMPTY);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (chunks and table), for the memory figure. */
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0) + this.hashes.byteLength * 2;
  }

  /** Whether exactly this id is in the set. */
  has(id: string): boolean {
    const n = encode(id);
    const h = this.hash(scratch, n);
    const mask = this.hashes.length - 1;
    for (let i = h & mask; this.positions[i] !== EMPTY; i = (i + 1) & mask) {
      if (this.hashes[i] === h && this.sameBytes(this.positions[i]!, n)) return true;
    }
    return false;
  }

  /** The ids, in no particular order. */
  *[Symbol.iterator](): Iterator<string> {
    for (let s = 0; s < this.positions.length; s++) {
      const at = this.positions[s]!;
      if (at === EMPTY) continue;
      const chunk = this.chunks[at >>> CHUNK_BITS]!;
      const length = readLength(chunk, at & (CHUNK - 1));
      yield decoder.decode(chunk.subarray(lengthEnd, lengthEnd + length));
    }
  }

  /** Adds `id`; returns false when exactly this id was already there. */
  add(id: string): boolean {
    const n = encode(id);
    const h = this.hash(scratch, n);
    const mask = this.hashes.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      if (this.positions[i] === EMPTY) {
        if ((this.count + 1) * 4 > this.hashes.length * 3) {
          this.grow();
          return this.add(id);
        }
        this.positions[i] = this.store(n);
        this.hashes[i] = h;
        this.count++;
        return true;
      }
      if (this.hashes[i] === h && this.sameBytes(this.positions[i]!, n)) return false;
    }
  }

  /** Whether the id at `at` is the `n` bytes in `scratch`. */
  private sameBytes(at: number, n: number): boolean {
    const chunk = this.chunks[at >>> CHUNK_BITS]!;
    const length = readLength(chunk, at & (CHUNK - 1));
    if (length !== n) return false;
    const start = lengthEnd;
    for (let k = 0; k < length; k++) if (chunk[start + k] !== scratch[k]) return false;
    return true;
  }

  /** Stores the `n` bytes in `scratch`; returns their position. */
  private store(n: number): number {
    const need = lengthBytes(n) + n;
    if (this.used + need > CHUNK) {
      if (this.chunks.length >= MAX_CHUNKS) throw new RangeError('IdSet: over 4 GiB of ids');
      this.chunks.push(new Uint8Array(Math.max(CHUNK, need)));
      this.used = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1]!;
    const at = ((this.chunks.length - 1) << CHUNK_BITS) >>> 0;
    let o = this.used;
    for (let v = n; ; v >>>= 7) {
      if (v < 0x80) {
        chunk[o++] = v;
        break;
      }
      chunk[o++] = (v & 0x7f) | 0x80;
    }
    if (n < 64) for (let k = 0; k < n; k++) chunk[o + k] = scratch[k]!;
    else chunk.set(scratch.subarray(0, n), o);
    // A chunk of its own (an id over 1 MiB) takes no other id after it.
    this.used = need > CHUNK ? CHUNK : o + n;
    return (at | (o - lengthBytes(n))) >>> 0;
  }

  private grow(): void {
    const { hashes, positions } = this;
    const slots = hashes.length * 2;
    this.hashes = new Uint32Array(slots);
    this.positions = new Uint32Array(slots).fill(EMPTY);
    const mask = slots - 1;
    for (let s = 0; s < positions.length; s++) {
      if (positions[s] === EMPTY) continue;
      let i = hashes[s]! & mask;
      while (this.positions[i] !== EMPTY) i = (i + 1) & mask;
      this.hashes[i] = hashes[s]!;
      this.positions[i] = positions[s]!;
    }
  }
}

/** The UTF-8 of the id being looked up or added (one buffer, reused: no allocation per call). */
let scratch = new Uint8Array(1024);

/** Writes `id`'s UTF-8 into `scratch`; returns its length. ASCII is copied directly. */
function encode(id: string): number {
  const n = id.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (c >= 0x80) return encoder.encodeInto(id, scratch).written;
    scratch[i] = c;
  }
  return n;
}

function lengthBytes(n: number): number {
  let k = 1;
  while (n >= 0x80) {
    n >>>= 7;
    k++;
  }
  return k;
}

/** Where the id's bytes start, after the length `readLength` last read (no object per lookup). */
let lengthEnd = 0;

/** The varint length at `o`; sets `lengthEnd`. */
function readLength(chunk: Uint8Array, o: number): number {
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    const b = chunk[o++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      lengthEnd = o;
      return length;
    }
  }
}
