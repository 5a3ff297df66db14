/**
 * Why no actor is working, in words: tabs that joined but failed to become actors (model load
 * failed, no WebGPU…), and tabs refused or standing by, each with its reason. A start-up timeout
 * names every one of them, so "stuck waiting for actors" always says why.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ActorPool } from '../pool/actorPool.ts';
import type { Actor } from '../pool/actor.ts';

export class JoinDiagnostics {
  private readonly failed: string[] = [];

  /** A tab that was admitted but could not become an actor. */
  recordFailure(actor: Actor, what: string): void {
    this.failed.push(`  ${actor.id} (host ${actor.hostId}): ${what}`);
  }

  /** NO_ACTORS, naming every tab that tried and why it is not working. */
  noActorsError(headline: string, pool: ActorPool): TabpoolError {
    const refused = [...pool.rejected(), ...pool.standby()].map((a) => `  ${a.id} (host ${a.hostId}): ${a.reason}`);
    const lines = [...this.failed, ...refused];
    return new TabpoolError(
      'NO_ACTORS',
      headline + (lines.length ? ` Tabs that joined could not become actors:\n${lines.join('\n')}` : ' No tab joined: open the worker URL in a browser, or use --launch K.'),
    );
  }

  /**
   * With --launch K and no one else expected, K tabs that all failed or were refused mean nothing
   * will change: the job can say why at once instead of after --join-timeout.
   */
  allLaunchedFailed(launch: number, pool: ActorPool): boolean {
    if (launch === 0 || this.failed.length + pool.rejected().length < launch) return false;
    return pool.actors.size <= pool.rejected().length;
  }
}
