/** Durations (round trips, dispatch latency) in a bounded reservoir, for percentiles. */
export class LatencyStats {
  private readonly samples: Float64Array;
  private seen = 0;
  private seed = 0x2545f491;

  constructor(capacity = 20_000) {
    this.samples = new Float64Array(capacity);
  }

  get count(): number {
    return this.seen;
  }

  add(ms: number): void {
    const cap = this.samples.length;
    if (this.seen < cap) this.samples[this.seen] = ms;
    else {
      // Reservoir sampling keeps a uniform sample of every round trip, in bounded memory.
      this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
      const j = this.seed % (this.seen + 1);
      if (j < cap) this.samples[j] = ms;
    }
    this.seen++;
  }

  percentile(p: number): number | null {
    const n = Math.min(this.seen, this.samples.length);
    if (n === 0) return null;
    const sorted = this.samples.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!;
  }
}
