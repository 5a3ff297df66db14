/**
 * The no-progress watchdog (--stall-timeout), as Ray added one (ExecutionTimeoutError,
 * ray-project/ray#65349): when inputs wait, actors are ready, and for a whole period no row was
 * written and no batch was out on an actor, something is wrong with the plan, not with the tabs.
 * After one period the job says why (each actor's speed and batch size, what is pending), in the
 * log and on the status page; after a second it fails with STALLED, leaving a resumable output.
 * Progress is an answer from a tab, a batch out, or work that writes rows without one (checks).
 */
import type { PoolActor } from '../pool/actor.ts';

export interface StallFacts {
  /** Inputs waiting for an actor. */
  pending: number;
  ready: readonly PoolActor[];
  /** Batches out on actors. */
  inFlight: number;
  /** Answers received so far (any change is progress). */
  answers: number;
  /** Work that will write rows without any actor (checks running, coordinator fetches). */
  otherWork: boolean;
}

export type StallVerdict = { kind: 'warn'; report: string } | { kind: 'fail'; report: string } | null;

/** The warning's words, as every host logs them. */
export function stallWarning(report: string, timeoutMs: number): string {
  return `stalled: ${report}; this fails with STALLED if it lasts another --stall-timeout ${timeoutMs / 1000}s`;
}

export class StallWatch {
  private since: number | null = null;
  private answers: number | null = null;
  private warned = false;
  /** What the job says while it is stalled (null while it is not): the status page shows it. */
  report: string | null = null;

  constructor(private readonly timeoutMs: number) {}

  /** Once a second (monotonic ms): a warning after one stalled period, a failure after two. */
  tick(now: number, f: StallFacts): StallVerdict {
    const answered = this.answers !== null && f.answers !== this.answers;
    const moving = answered || f.inFlight > 0 || f.pending === 0 || f.ready.length === 0 || f.otherWork;
    this.answers = f.answers;
    if (moving) {
      this.since = null;
      this.warned = false;
      this.report = null;
      return null;
    }
    this.since ??= now;
    const stalled = now - this.since;
    if (stalled >= 2 * this.timeoutMs) return { kind: 'fail', report: describeStall(stalled, f) };
    if (stalled >= this.timeoutMs && !this.warned) {
      this.warned = true;
      this.report = describeStall(stalled, f);
      return { kind: 'warn', report: this.report };
    }
    return null;
  }
}

/** `no progress for 5m0s: 4 inputs pending, 2 ready actors, none holding a batch (actor-1 …)`. */
export function describeStall(ms: number, f: StallFacts): string {
  const actors = f.ready.slice(0, 8).map((a) => {
    const v = a.speed.imagesPerSecond;
    const speed =
      v === null ? 'speed unknown' : `${v < 0.1 ? v.toPrecision(2) : v.toFixed(1)} img/s${a.speed.measured ? '' : ' (its own estimate)'}`;
    return `${a.id} on host ${a.hostId}, ${a.ep ?? 'no EP'}, ${speed}, last batch ${a.lastBatchSize ?? 'none'}`;
  });
  const more = f.ready.length > 8 ? `; and ${f.ready.length - 8} more` : '';
  return (
    `no progress for ${minutes(ms)}: ${f.pending} input(s) pending, ${f.ready.length} ready actor(s), none ` +
    `holding a batch (${actors.join('; ')}${more})`
  );
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
