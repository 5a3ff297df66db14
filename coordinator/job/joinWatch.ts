/**
 * Start-up: the join timer and why no actor is working. When --join-timeout passes, the job
 * starts with the actors it has, waits on while some are still loading the model, or fails with
 * NO_ACTORS naming every tab that tried and why it is not working (model load failed, no WebGPU,
 * refused, standing by), so "stuck waiting for actors" always says why.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { Clock, Timer } from '../host/clock.ts';

export interface JoinWatchTarget {
  pool: ActorRoster;
  joinTimeoutMs: number;
  /** --launch K: K local tabs and no one else expected. */
  launch: number;
  /** The pool's minimum. */
  minimum: number;
  log(line: string): void;
  started(): boolean;
  finished(): boolean;
  /** Actors barred for wrong results (verification), in words: tabs that joined but may not serve. */
  barred(): string[];
  /** Starts work with fewer actors than the pool's minimum. */
  startShort(): void;
  fail(err: TabpoolError): void;
}

export class JoinWatch {
  private readonly failed: string[] = [];
  private timer: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly t: JoinWatchTarget,
  ) {}

  /** (Re)starts the timer: at the start, and whenever the pool is left with no actor. */
  arm(): void {
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => this.onTimeout(), this.t.joinTimeoutMs);
  }

  cancel(): void {
    this.timer?.cancel();
  }

  /** A tab that was admitted but could not become an actor. */
  recordFailure(actor: PoolActor, what: string): void {
    this.failed.push(`  ${actor.id} (host ${actor.hostId}): ${what}`);
    this.failIfNoneCanJoin();
  }

  /**
   * With --launch K and no one else expected, K tabs that all failed or were refused mean nothing
   * will change: say why at once instead of after --join-timeout.
   */
  failIfNoneCanJoin(): void {
    const { pool, launch } = this.t;
    if (this.t.finished() || launch === 0 || this.failed.length + pool.rejected().length < launch) return;
    if (pool.actors.size > pool.rejected().length) return;
    this.t.fail(this.noActorsError(`all ${launch} launched tab(s) failed to become actors.`));
  }

  private onTimeout(): void {
    if (this.t.finished()) return;
    const ready = this.t.pool.ready().length;
    if (ready > 0) {
      if (!this.t.started()) {
        this.t.log(`--join-timeout: starting with ${ready} ready actor(s), fewer than the pool's minimum of ${this.t.minimum}`);
        this.t.startShort();
      }
      return;
    }
    // Actors are still loading the model (WebGPU shader compilation can take a while): wait on.
    if (this.t.pool.active().length > 0) return this.arm();
    this.t.fail(this.noActorsError(`no actor was ready after --join-timeout ${this.t.joinTimeoutMs / 1000}s.`));
  }

  /** NO_ACTORS, naming every tab that tried and why it is not working. */
  private noActorsError(headline: string): TabpoolError {
    const refused = [...this.t.pool.rejected(), ...this.t.pool.standby()].map((a) => `  ${a.id} (host ${a.hostId}): ${a.reason}`);
    const lines = [...this.failed, ...refused];
    const barred = this.t.barred().map((b) => `  ${b}`);
    const parts = [
      lines.length ? ` Tabs that joined could not become actors:\n${lines.join('\n')}` : '',
      barred.length
        ? ` Tabs that joined were barred for wrong results (open the worker URL on another machine, or rerun ` +
          `with --verify 0 to trust them):\n${barred.join('\n')}`
        : '',
    ].join('');
    return new TabpoolError('NO_ACTORS', headline + (parts || ' No tab joined: open the worker URL in a browser, or use --launch K.'));
  }
}
