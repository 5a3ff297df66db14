/**
 * Peer checks: the verifier asks for a sample of one actor's inputs to be computed again by an
 * actor of another host (checks run where the compute is, not on the coordinator's CPU). A check
 * travels as an ordinary batch, so the peer cannot tell it from work; it takes one of the peer's
 * batch slots and obeys the same deadlines, and its answer goes to the verifier instead of the
 * output. It goes out before new work, to the ready actor of another host with the fewest batches
 * out (the fastest among them). A check that no other host's actor can take within PEER_WAIT_MS
 * (or at once, when there is no other host), or whose peer is lost, answers null: the
 * coordinator's reference checks instead.
 */
import type { InputItem } from '../io/inputItem.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { Batch, Workload } from './workload.ts';

export const PEER_WAIT_MS = 10_000;

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
    private readonly maxTasksInFlight: number,
    private readonly send: (a: PoolActor, batch: Batch, now: number) => void,
  ) {}

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

  /** Sends the checks waiting to free actors of other hosts; answers null for those that cannot be sent. */
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
        if (held >= this.maxTasksInFlight) continue;
        const faster = (a.speed.imagesPerSecond ?? 0) > (best?.speed.imagesPerSecond ?? 0);
        if (held < bestHeld || (held === bestHeld && faster)) [best, bestHeld] = [a, held];
      }
      if (best) {
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
