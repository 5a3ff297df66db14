/**
 * A set of input ids as 64-bit hashes, for spotting ids a manifest repeats: a million ids cost
 * ~19 MB (2M slots of 9 bytes) instead of the ~45 MB a Set<string> takes. Ids are kept as 64-bit hashes (two
 * independent 32-bit halves), so two different ids collide with probability about n²/2⁶⁵
 * (3·10⁻⁸ for a million); the caller logs every id it treats as a repeat.
 */
export class IdSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private used: Uint8Array;
  private count = 0;

  constructor(capacity = 1024) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.used = new Uint8Array(size);
  }

  get size(): number {
    return this.count;
  }

  /** Adds `id`; returns false when it (or an id with the same 64-bit hash) was already there. */
  add(id: string): boolean {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h1 >>>= 0;
    h2 >>>= 0;
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    return this.insert(h1, h2);
  }

  private insert(h1: number, h2: number): boolean {
    const mask = this.used.length - 1;
    for (let i = (h1 ^ Math.imul(h2, 0x27d4eb2d)) & mask; ; i = (i + 1) & mask) {
      if (!this.used[i]) {
        this.used[i] = 1;
        this.hi[i] = h1;
        this.lo[i] = h2;
        this.count++;
        return true;
      }
      if (this.hi[i] === h1 && this.lo[i] === h2) return false;
    }
  }

  private grow(): void {
    const { hi, lo, used } = this;
    const size = used.length * 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.used = new Uint8Array(size);
    this.count = 0;
    for (let i = 0; i < used.length; i++) if (used[i]) this.insert(hi[i]!, lo[i]!);
  }
}
