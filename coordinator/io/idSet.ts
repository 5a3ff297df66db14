/**
 * An exact set of input ids, for spotting ids a manifest repeats, in far less memory than a
 * Set<string>: the ids' UTF-8 bytes sit end to end in one growing arena, and an open-addressing
 * table holds, per slot, an id's 32-bit hash and where its bytes start. A hash match is only a
 * candidate: the bytes are compared before an id counts as seen, so two different ids are never
 * taken for one, whatever their hashes.
 *
 * Memory: the ids' bytes (in an arena that doubles) plus 12 bytes a slot (hash, offset, length),
 * the table kept at most three quarters full (linear probing stays short at that load). The job
 * uses it for repeated manifest ids, and --resume for the ids already written (bench: `resume.m1M`,
 * the set against a Set<string> of the same ids).
 */

/** What the job asks of the ids already written: one type for the set here and a test's Set<string>. */
export interface IdLookup extends Iterable<string> {
  has(id: string): boolean;
  readonly size: number;
}
export type IdHash = (bytes: Uint8Array) => number;

/** FNV-1a over the UTF-8 bytes. */
export const fnv1a: IdHash = (bytes) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = 0xffffffff;

export class IdSet {
  private arena: Uint8Array;
  private used = 0;
  /** Per slot: hash, arena offset (EMPTY when free), byte length. */
  private hashes: Uint32Array;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  private count = 0;

  /** `hash` is replaceable so tests can force collisions. */
  constructor(
    capacity = 1024,
    private readonly hash: IdHash = fnv1a,
  ) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(16, Math.ceil((capacity * 4) / 3))));
    this.hashes = new Uint32Array(slots);
    this.offsets = new Uint32Array(slots).fill(EMPTY);
    this.lengths = new Uint32Array(slots);
    this.arena = new Uint8Array(Math.max(1024, capacity * 16));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held (arena and table), for the memory figure. */
  get bytes(): number {
    return this.arena.byteLength + this.hashes.byteLength * 3;
  }

  /** Whether exactly this id is in the set. */
  has(id: string): boolean {
    const bytes = encoder.encode(id);
    const h = this.hash(bytes);
    const mask = this.hashes.length - 1;
    for (let i = h & mask; this.offsets[i] !== EMPTY; i = (i + 1) & mask) {
      if (this.hashes[i] === h && this.sameBytes(i, bytes)) return true;
    }
    return false;
  }

  /** The ids, in no particular order. */
  *[Symbol.iterator](): Iterator<string> {
    for (let s = 0; s < this.offsets.length; s++) {
      const at = this.offsets[s]!;
      if (at !== EMPTY) yield decoder.decode(this.arena.subarray(at, at + this.lengths[s]!));
    }
  }

  /** Adds `id`; returns false when exactly this id was already there. */
  add(id: string): boolean {
    const bytes = encoder.encode(id);
    const h = this.hash(bytes);
    const mask = this.hashes.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      if (this.offsets[i] === EMPTY) {
        if ((this.count + 1) * 4 > this.hashes.length * 3) {
          this.grow();
          return this.add(id);
        }
        this.offsets[i] = this.store(bytes);
        this.hashes[i] = h;
        this.lengths[i] = bytes.length;
        this.count++;
        return true;
      }
      if (this.hashes[i] === h && this.sameBytes(i, bytes)) return false;
    }
  }

  private sameBytes(slot: number, bytes: Uint8Array): boolean {
    if (this.lengths[slot] !== bytes.length) return false;
    const at = this.offsets[slot]!;
    for (let k = 0; k < bytes.length; k++) if (this.arena[at + k] !== bytes[k]) return false;
    return true;
  }

  private store(bytes: Uint8Array): number {
    if (this.used + bytes.length > this.arena.length) {
      let size = this.arena.length * 2;
      while (this.used + bytes.length > size) size *= 2;
      if (size > EMPTY) throw new RangeError('IdSet: over 4 GiB of ids');
      const next = new Uint8Array(size);
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
    }
    const at = this.used;
    this.arena.set(bytes, at);
    this.used += bytes.length;
    return at;
  }

  private grow(): void {
    const { hashes, offsets, lengths } = this;
    const slots = hashes.length * 2;
    this.hashes = new Uint32Array(slots);
    this.offsets = new Uint32Array(slots).fill(EMPTY);
    this.lengths = new Uint32Array(slots);
    const mask = slots - 1;
    for (let s = 0; s < offsets.length; s++) {
      if (offsets[s] === EMPTY) continue;
      let i = hashes[s]! & mask;
      while (this.offsets[i] !== EMPTY) i = (i + 1) & mask;
      this.hashes[i] = hashes[s]!;
      this.offsets[i] = offsets[s]!;
      this.lengths[i] = lengths[s]!;
    }
  }
}
