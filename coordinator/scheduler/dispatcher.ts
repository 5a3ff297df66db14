/**
 * Dispatch: pending inputs cut into batches and handed to ready actors, the one with the fewest
 * batches in flight first, each batch sent as one binary frame. Wire bytes are counted here, where
 * the frames are made.
 */
import { encodeBatchFrame } from '../../shared/batchFrame.ts';
import type { ActorPool } from '../pool/actorPool.ts';
import type { Actor } from '../pool/actor.ts';
import type { BatchQueue } from './batchQueue.ts';
import type { JobStats } from './jobStats.ts';

export interface DispatchSettings {
  batchSize: number;
  maxTasksInFlight: number;
}

export class Dispatcher {
  constructor(
    private readonly pool: ActorPool,
    private readonly queue: BatchQueue,
    private readonly stats: JobStats,
    private readonly settings: DispatchSettings,
  ) {}

  /**
   * Sends batches while inputs wait and an actor has a free slot; returns how many it sent.
   * `allRead`: the dataset is read to its end, so the job's tail has begun.
   */
  run(now: number, allRead: boolean): number {
    const max = this.settings.maxTasksInFlight;
    let sent = 0;
    while (this.queue.hasPending) {
      // A plain scan, no arrays built: this runs once per dispatch, with up to thousands of actors.
      let best: Actor | null = null;
      let bestHeld = 0;
      let ready = 0;
      for (const a of this.pool.actors.values()) {
        if (a.state !== 'ready') continue;
        ready++;
        const held = this.queue.heldCount(a.id);
        if (held >= max) continue;
        if (!best || held < bestHeld || (held === bestHeld && a.lastDispatchAt < best.lastDispatchAt)) {
          best = a;
          bestHeld = held;
        }
      }
      if (!best) break;
      let size = this.settings.batchSize;
      if (allRead) {
        // The tail: everything left is known. Keep batches small enough that every actor's slots
        // stay busy to the end, instead of one finishing a full batch while the others idle.
        size = Math.max(1, Math.min(size, Math.floor(this.queue.remainingItems() / (ready * max * 2))));
      } else if (this.queue.pendingItems < size && bestHeld > 0) {
        // More inputs are being read: a busy actor waits for a full batch rather than take a scrap.
        break;
      }
      const batch = this.queue.take(best.id, size, now)!;
      best.lastDispatchAt = now;
      const frame = encodeBatchFrame(batch.id, batch.items.map((i) => i.bytes));
      best.link.sendBinary(frame);
      const wire = this.stats.wire;
      wire.batches++;
      wire.images += batch.items.length;
      wire.frameBytes += frame.byteLength;
      for (const i of batch.items) wire.itemBytes += i.bytes.byteLength;
      sent++;
    }
    return sent;
  }
}
