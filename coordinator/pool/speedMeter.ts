/**
 * An actor's speed, as the coordinator measures it from the round trips it sees: a client cannot
 * inflate it. Batches run one after another on an actor, so a batch's service time runs from when
 * the actor could start it (it was sent, and the one before it was done) to its result. Recent
 * batches weigh most, so a tab that slows down (throttled, backgrounded) is seen as slow soon.
 *
 * Before the first result the meter falls back to a prior: what the tab measured itself (the EP
 * probe), or failing that one image per warm-up run, which overstates the time a GPU needs (its
 * warm-up includes shader compilation) and so errs on the side of giving it little.
 */

/** How much the past counts against each new batch (0.8: about the last five batches matter). */
const DECAY = 0.8;

export class SpeedMeter {
  private items = 0;
  private ms = 0;
  private lastDone: number | null = null;
  private prior: number | null = null;

  /** Images a second the tab reported for itself, or one image per warm-up run. */
  setPrior(imagesPerSecond: number | null): void {
    this.prior = imagesPerSecond !== null && Number.isFinite(imagesPerSecond) && imagesPerSecond > 0 ? imagesPerSecond : null;
  }

  /** A batch of `items` sent at `sentAt` answered at `doneAt` (monotonic ms). */
  record(items: number, sentAt: number, doneAt: number): void {
    const start = this.lastDone !== null && this.lastDone > sentAt ? this.lastDone : sentAt;
    const service = Math.max(1, doneAt - start);
    this.items = this.items * DECAY + items;
    this.ms = this.ms * DECAY + service;
    this.lastDone = doneAt;
  }

  /** True once a result has been measured (the prior no longer decides). */
  get measured(): boolean {
    return this.ms > 0;
  }

  /** Images a second: measured, else the prior, else null (nothing known). */
  get imagesPerSecond(): number | null {
    if (this.ms > 0) return (this.items * 1000) / this.ms;
    return this.prior;
  }

  /** When the actor finished its last batch (monotonic ms), or null. */
  get lastDoneAt(): number | null {
    return this.lastDone;
  }
}
