/**
 * The wasm threads of each actor, planned per host as budgets are (coordinator/pool/threadShare.ts):
 * pinned by --num-cpus, else the actor's share of its host's cores, planned when its job reaches it
 * and re-planned for every actor on a host when another joins or leaves it (the tab starts its actor
 * afresh with the new count between batches, and says so when it runs them). Actors of other
 * processes on the host (gateways sharing a job, other jobs of a standing pool) are not counted:
 * each process plans the actors it serves.
 */
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import { threadShare } from '../pool/threadShare.ts';

export class ThreadPlan {
  constructor(
    private readonly pool: ActorRoster,
    /** --num-cpus, as whole threads; null: by the host's share. */
    private readonly pinned: number | null,
    private readonly log: (line: string) => void,
  ) {}

  /** The threads `actor` loads its job with (recorded as told). */
  planFor(actor: PoolActor): number {
    const n = this.pinned ?? this.shareOn(actor.hostId);
    actor.toldThreads(n);
    return n;
  }

  /** Another actor joined or left `hostId`: actors there that were told another count hear the new one. */
  replan(hostId: string): void {
    if (this.pinned !== null) return;
    const n = this.shareOn(hostId);
    const actors = this.onHost(hostId);
    for (const a of actors) {
      if (a.threadsPlanned === null || a.threadsPlanned === n) continue;
      this.log(`${a.id}: ${a.threadsPlanned} → ${n} wasm thread(s), its share of host ${hostId} with ${actors.length} actor(s) there`);
      a.toldThreads(n);
      a.link.sendJson({ type: 'threads', numThreads: n });
    }
  }

  private shareOn(hostId: string): number {
    const host = this.pool.hosts.get(hostId);
    const actors = this.onHost(hostId);
    const prepare = actors.reduce((sum, a) => sum + a.prepareCores, 0);
    return threadShare(host?.capacity.cpus ?? 1, actors.length, prepare);
  }

  /** The actors holding a slot on `hostId` (loading or ready), handed-back ones included until they leave. */
  private onHost(hostId: string): PoolActor[] {
    const out: PoolActor[] = [];
    for (const a of this.pool.actors.values()) if (a.hostId === hostId && (a.state === 'loading' || a.state === 'ready')) out.push(a);
    return out;
  }
}
