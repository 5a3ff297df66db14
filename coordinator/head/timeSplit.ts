/**
 * Where a standing pool's time goes, as its status page plots it: each tab's time split into
 * computing (a batch out on it), waiting for input (serving a job, ready, nothing to do), loading
 * and idle; and each job's rows a second over time, sampled, kept bounded for a pool that runs
 * for days (when the series is full, every other point is dropped: older history, coarser).
 */
import type { TimeSplit } from '../../shared/poolStatus.ts';

export type Phase = keyof TimeSplit;

export class TabClock {
  readonly split: TimeSplit = { computingMs: 0, waitingMs: 0, loadingMs: 0, idleMs: 0 };
  private phase: Phase = 'idleMs';
  private since: number;

  constructor(now: number) {
    this.since = now;
  }

  /** Books the time since the last change to the phase it was in, and enters `next`. */
  enter(next: Phase, now: number): void {
    this.split[this.phase] += Math.max(0, now - this.since);
    this.since = now;
    this.phase = next;
  }

  /** The split up to `now`. */
  read(now: number): TimeSplit {
    const out = { ...this.split };
    out[this.phase] += Math.max(0, now - this.since);
    return out;
  }
}

const MAX_POINTS = 2000;

/** A job's rows a second, from its row count sampled now and then. */
export class RateSeries {
  readonly points: [number, number][] = [];
  private last: { at: number; done: number } | null = null;

  sample(at: number, done: number): void {
    if (this.last && at > this.last.at) {
      this.points.push([at, Math.max(0, ((done - this.last.done) * 1000) / (at - this.last.at))]);
      if (this.points.length > MAX_POINTS) {
        const kept = this.points.filter((_, i) => i % 2 === 1);
        this.points.splice(0, this.points.length, ...kept);
      }
    }
    this.last = { at, done };
  }
}
