/** A clock tests advance by hand: the job's deadlines and join timeout fire when the test says, not after real waiting. */
import type { Clock, Timer } from '../../coordinator/host/clock.ts';

interface Pending {
  at: number;
  fn: () => void;
  every: number | null;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  private t = 1_000;
  private readonly epoch = 1_700_000_000_000;
  private readonly timers: Pending[] = [];

  now(): number {
    return this.t;
  }

  wall(): number {
    return this.epoch + this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, ms);
  }

  private add(fn: () => void, ms: number, every: number | null): Timer {
    const p: Pending = { at: this.t + ms, fn, every, cancelled: false };
    this.timers.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Moves time forward, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((p) => !p.cancelled && p.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      if (due.every !== null) due.at += due.every;
      else due.cancelled = true;
      due.fn();
    }
    this.t = end;
  }
}
