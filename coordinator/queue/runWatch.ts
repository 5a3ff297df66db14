/**
 * `run --queue`'s own no-progress watchdog, beside each gateway's (host/stallWatch.ts): the gateways
 * see only what they hold, so a unit held where nothing can run it (or lost between them) would
 * leave `run` waiting for ever. When units are on the queue unwritten and no row has been written
 * for `--stall-timeout`, `run` says so with the numbers; after a second period it fails, STALLED,
 * resumable with --resume --job.
 */
import { TabpoolError } from '../../shared/errors.ts';

export interface QueueProgress {
  /** Units put on the queue whose rows are not all written. */
  pending: number;
  /** Of those, units answered whose rows wait on verification. */
  answeredPending: number;
  /** Ready actors across every gateway. */
  readyActors: number;
  gateways: number;
}

export type QueueStall = { kind: 'warn' | 'fail'; report: string };

export class RunWatch {
  private lastProgressAt: number;
  private warned = false;

  constructor(
    private readonly timeoutMs: number,
    now: number,
  ) {
    this.lastProgressAt = now;
  }

  /** A row was written (or the job's work changed): the clock starts again. */
  progressed(now: number): void {
    this.lastProgressAt = now;
    this.warned = false;
  }

  check(p: QueueProgress, now: number): QueueStall | null {
    if (p.pending === 0) {
      this.lastProgressAt = now;
      return null;
    }
    const idle = now - this.lastProgressAt;
    if (idle < this.timeoutMs) return null;
    const report =
      `no row written for ${Math.round(idle / 1000)}s with ${p.pending} unit(s) on the queue unwritten ` +
      `(${p.answeredPending} answered, their rows held for verification; ${p.pending - p.answeredPending} unanswered); ` +
      `${p.readyActors} ready actor(s) on ${p.gateways} live gateway(s), this run's own among them`;
    if (idle >= 2 * this.timeoutMs) return { kind: 'fail', report };
    if (this.warned) return null;
    this.warned = true;
    return { kind: 'warn', report };
  }
}

/** No actor of the job ready on any gateway for --join-timeout: what to open or start. */
export function noActorsError(job: string, o: { joinTimeoutMs: number; queue: string[] | null }, otherGateways: number): TabpoolError {
  return new TabpoolError(
    'NO_ACTORS',
    `no actor of job ${job} was ready for ${(o.joinTimeoutMs / 1000).toFixed(0)}s ` +
      `(${otherGateways} other gateway(s) with actors): open this run's worker URL, or start tabpool ` +
      `gateway --queue ${(o.queue ?? []).join(',')} --job ${job} --launch K; --resume continues the job`,
  );
}
