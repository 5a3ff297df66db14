/**
 * Peer checks: the verifier asks for a sample of one actor's inputs to be computed again by an
 * actor of another host (checks run where the compute is, not on the coordinator's CPU). A check
 * rides in the next batch of work an actor of another host is sent (its inputs after the batch's
 * own, the batch cut that much shorter), so it costs the pool no frame, slot or round trip of its
 * own, and the peer cannot tell it from work. While no work is left to ride in, or after
 * RIDE_WAIT_MS, it goes out alone as an ordinary batch, before new work, to the ready actor of
 * another host with the fewest batches out (the fastest among them); its answer goes to the
 * verifier instead of the output. A check that no other host's actor can take within PEER_WAIT_MS
 * (or at once, when there is no other host), or whose peer is lost, answers null: the
 * coordinator's reference checks instead.
 */
import type { InputItem } from '../io/inputItem.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { DispatchSettings } from './dispatcher.ts';
import type { Batch, Rider, Workload } from './workload.ts';

export const PEER_WAIT_MS = 10_000;
/** A busy pool sends some actor of another host a batch within one batch's time (batchPlan's 1.5 s target). */
export const RIDE_WAIT_MS = 2_000;

/** The peer's answers for a check's inputs, in order (the verifier's PeerAnswer). */
export interface PeerAnswer {
  actorId: string;
  hostId: string;
  answers: ItemResult[];
}

interface Waiting {
  items: InputItem[];
  notHost: string;
  since: number;
  resolve(answer: PeerAnswer | null): void;
}

export class PeerChecks {
  private waiting: Waiting[] = [];

  constructor(
    private readonly pool: ActorRoster,
    private readonly workload: Workload,
    private readonly settings: Pick<DispatchSettings, 'batchSize' | 'maxBatch' | 'maxTasksInFlight'>,
    private readonly send: (a: PoolActor, batch: Batch, now: number) => void,
    /** Whether work is still to come (waiting, or still being read): a check may wait to ride in it. */
    private readonly moreWork: () => boolean = () => workload.hasPending,
  ) {}

  /** The most a check may hold to ride: the batch it rides in keeps one input of its own. */
  private get rideRoom(): number {
    return (this.settings.batchSize === 'auto' ? this.settings.maxBatch : this.settings.batchSize) - 1;
  }

  /** `items` computed by a ready actor of a host other than `notHost`: its answers, or null. */
  request(items: InputItem[], notHost: string, now: number): Promise<PeerAnswer | null> {
    return new Promise((resolve) => {
      this.waiting.push({ items, notHost, since: now, resolve });
      this.run(now);
    });
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** A check waiting that may ride in the batch `actor` is about to be sent, in at most `room` inputs (taken off the wait). */
  ride(actor: PoolActor, room: number): Rider | null {
    const at = this.waiting.findIndex((w) => w.notHost !== actor.hostId && w.items.length <= room);
    if (at < 0) return null;
    const [w] = this.waiting.splice(at, 1);
    return {
      items: w!.items,
      answer: (answer) => w!.resolve(answer && { actorId: answer.actorId, hostId: actor.hostId, answers: answer.results }),
    };
  }

  /**
   * Sends the checks that cannot wait to ride (no work left, or waited RIDE_WAIT_MS) to free actors of
   * other hosts; answers null for those that cannot be sent.
   */
  run(now: number): void {
    if (this.waiting.length === 0) return;
    const still: Waiting[] = [];
    for (const w of this.waiting) {
      let best: PoolActor | null = null;
      let bestHeld = Infinity;
      let otherHost = false;
      for (const a of this.pool.actors.values()) {
        if (a.state !== 'ready' || a.retiring || a.hostId === w.notHost) continue;
        otherHost = true;
        const held = this.workload.heldCount(a.id);
        if (held >= this.settings.maxTasksInFlight) continue;
        const faster = (a.speed.imagesPerSecond ?? 0) > (best?.speed.imagesPerSecond ?? 0);
        if (held < bestHeld || (held === bestHeld && faster)) [best, bestHeld] = [a, held];
      }
      const canRide = otherHost && this.moreWork() && now - w.since < RIDE_WAIT_MS && w.items.length <= this.rideRoom;
      if (canRide) still.push(w);
      else if (best) {
        const peer = best;
        const batch = this.workload.addCheck(w.items, peer.id, now, (answer) =>
          w.resolve(answer && { actorId: answer.actorId, hostId: peer.hostId, answers: answer.results }),
        );
        this.send(peer, batch, now);
      } else if (!otherHost || now - w.since > PEER_WAIT_MS) w.resolve(null);
      else still.push(w);
    }
    this.waiting = still;
  }

  /** The host stops: every check waiting answers null. */
  cancelAll(): void {
    for (const w of this.waiting) w.resolve(null);
    this.waiting = [];
  }
}
