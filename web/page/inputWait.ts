/**
 * Whether the model waits for its input: time during which the actor runs no batch while a batch is
 * still being decoded (the GPU starved by preprocessing), as a share of the time since the first
 * batch arrived. Shown on the page.
 */
export class InputWait {
  private prepared = 0;
  private run = 0;
  private since: number | null = null;
  private waitedMs = 0;
  private firstAt: number | null = null;

  preparing(delta: number): void {
    this.firstAt ??= performance.now();
    this.prepared += delta;
    this.mark();
  }

  running(delta: number): void {
    this.run += delta;
    this.mark();
  }

  /** Percent of the time since the first batch the model sat idle waiting for input. */
  percent(): number {
    if (this.firstAt === null) return 0;
    const now = performance.now();
    const waited = this.waitedMs + (this.since === null ? 0 : now - this.since);
    return now > this.firstAt ? (100 * waited) / (now - this.firstAt) : 0;
  }

  private mark(): void {
    const starved = this.run === 0 && this.prepared > 0;
    const now = performance.now();
    if (starved) this.since ??= now;
    else if (this.since !== null) {
      this.waitedMs += now - this.since;
      this.since = null;
    }
  }
}
