/**
 * Telling tabs where they stand: the welcome after a hello, a promotion from standby, a demotion
 * when another process took the slot. With a shared pool (gateways on NATS) a slot is the job's,
 * not this process's: it is confirmed in the job's pool before the tab hears of it.
 */
import type { ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { ActorLink, PoolActor } from '../pool/actor.ts';
import { CLOSE } from '../../shared/closeCodes.ts';
import type { SharedPool } from './ports.ts';

export class Admission {
  /** Actors that heard their welcome (a shared pool confirms a slot before the tab hears of it). */
  private readonly welcomed = new WeakSet<PoolActor>();
  private syncing: Promise<unknown> = Promise.resolve();
  /** The pass waiting to start, which later calls join. */
  private queued: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    private readonly pool: ActorRoster,
    private readonly shared: SharedPool | null,
    /** The spec `actor` loads the job by, for the EPs it is offered (its threads are its own). */
    private readonly spec: (eps: ExecutionProvider[], actor: PoolActor) => JobSpec,
    private readonly log: (line: string) => void,
  ) {}

  /** Ready actors that count toward the pool's minimum: this process's, or the whole job's. */
  readyCount(): number {
    return this.shared ? this.shared.readyCount() : this.pool.ready().length;
  }

  stop(): void {
    this.stopped = true;
  }

  /** The first answer to a tab's hello: its actor id and admission, once the job's pool has it. */
  welcome(actor: PoolActor, hostId: string): void {
    const send = (): void => {
      this.welcomed.add(actor);
      const status = actor.state === 'loading' ? 'admitted' : actor.state === 'standby' ? 'standby' : 'rejected';
      const job = status === 'admitted' ? this.spec([...actor.offered], actor) : null;
      actor.link.sendJson({
        type: 'welcome',
        protocol: PROTOCOL_VERSION,
        actorId: actor.id,
        status,
        reason: status === 'admitted' ? null : actor.reason,
        job,
      });
      this.log(
        `${actor.id} joined from host ${hostId}: ` +
          `${status}${status === 'admitted' ? ` (${actor.offered.join(' or ')})` : ` — ${actor.reason}`}`,
      );
    };
    if (this.shared) void this.sync().then(send);
    else send();
  }

  /** Tabs promoted from standby hear of it; with a shared pool, once the job's pool has them. */
  announce(promoted: PoolActor[]): void {
    if (!this.shared) return promoted.forEach((p) => this.tell(p));
    if (promoted.length > 0)
      void this.sync().then(() => promoted.filter((p) => this.welcomed.has(p) && p.state === 'loading').forEach((p) => this.tell(p)));
  }

  /**
   * Writes this host's actors into the shared pool (serialized). Standby tabs that fit are promoted
   * first; an admitted tab the job's pool has no room for (another process took the slot) goes back
   * to standby and hears so. Resolves at once without a shared pool. Calls made while a pass waits
   * to start share that pass (it writes the pool as it stands when it runs), so a thousand tabs
   * joining at once cost a few passes, not a thousand in a row.
   */
  sync(): Promise<unknown> {
    const shared = this.shared;
    if (!shared) return Promise.resolve();
    if (this.queued) return this.queued;
    const pass = this.syncing.then(async () => {
      this.queued = null;
      if (this.stopped) return;
      const promoted = this.pool.promote();
      const demoted = new Set(await shared.sync());
      for (const p of promoted) if (this.welcomed.has(p) && p.state === 'loading' && !demoted.has(p)) this.tell(p);
      for (const a of demoted) {
        if (this.welcomed.has(a) && !promoted.includes(a) && a.readyAt === null)
          a.link.sendJson({ type: 'admission', status: 'standby', reason: a.reason, job: null });
      }
    });
    pass.catch((err: unknown) => this.log(`could not update the job's pool: ${(err as Error).message}`));
    this.syncing = pass.catch(() => undefined);
    this.queued = this.syncing;
    return this.queued;
  }

  private tell(p: PoolActor): void {
    p.link.sendJson({ type: 'admission', status: 'admitted', reason: null, job: this.spec([...p.offered], p) });
    this.log(`${p.id} promoted from standby`);
  }
}

/** A page speaking another protocol version is told to reload, and closed (it takes no slot). */
export function refuseProtocol(link: ActorLink, got: number): void {
  link.sendJson({ type: 'shutdown', reason: `this page speaks protocol ${got}, the coordinator ${PROTOCOL_VERSION}; reload the page` });
  link.close(CLOSE.policyViolation, 'protocol version mismatch');
}
