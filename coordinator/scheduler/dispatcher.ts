/**
 * Dispatch: pending inputs cut into batches and handed to ready actors, the one with the fewest
 * batches in flight first, each batch as one binary frame. Batch sizes follow each actor's
 * measured speed (batchPlan.ts); at the job's tail an idle actor also runs the batch expected to
 * finish last, and the first valid answer wins. Wire bytes are counted here, where frames are made.
 */
import { encodeBatchFrame } from '../../shared/batchFrame.ts';
import type { ActorPool } from '../pool/actorPool.ts';
import type { Actor } from '../pool/actor.ts';
import { autoBatchSize, chooseCopy, fixedBatchSize, type ActorLoad, type CopyCandidate } from './batchPlan.ts';
import type { Batch, BatchQueue } from './batchQueue.ts';
import type { JobStats } from './jobStats.ts';

export interface DispatchSettings {
  batchSize: number | 'auto';
  /** The largest batch an actor's memory budget holds (auto). */
  maxBatch: number;
  /** The model's batch dimension when it is fixed, else null. */
  fixedBatch: number | null;
  maxTasksInFlight: number;
}

export class Dispatcher {
  constructor(
    private readonly pool: ActorPool,
    private readonly queue: BatchQueue,
    private readonly stats: JobStats,
    private readonly settings: DispatchSettings,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** What the plan needs to know of `a`: its speed, and the work it holds. */
  load(a: Actor): ActorLoad {
    const held = this.queue.heldBy(a.id);
    let items = 0;
    let oldest = Infinity;
    for (const h of held) {
      items += h.batch.items.length;
      oldest = Math.min(oldest, h.sentAt);
    }
    const lastDone = a.speed.lastDoneAt;
    const busySince = held.length === 0 ? null : lastDone !== null && lastDone > oldest ? lastDone : oldest;
    return { speed: a.speed.imagesPerSecond, heldItems: items, busySince, maxBatch: this.settings.maxBatch };
  }

  /** Images a second of every ready actor whose speed is known. */
  poolSpeed(): number {
    let total = 0;
    for (const a of this.pool.actors.values()) if (a.state === 'ready') total += a.speed.imagesPerSecond ?? 0;
    return total;
  }

  /**
   * Sends batches while inputs wait and an actor has a free slot and should take one; at the tail
   * (`allRead`, nothing waiting) gives idle actors speculative copies. Returns the frames sent.
   * `unfinished`: inputs without a row yet.
   */
  run(now: number, allRead: boolean, unfinished: number): number {
    const max = this.settings.maxTasksInFlight;
    let sent = 0;
    // Actors the plan passed over in this pass: each is asked once per change of the queue.
    const passed = new Set<Actor>();
    for (;;) {
      // A plain scan, no arrays built: this runs once per dispatch, with up to thousands of actors.
      let best: Actor | null = null;
      let bestHeld = 0;
      let ready = 0;
      let totalSpeed = 0;
      let fastest = 0;
      for (const a of this.pool.actors.values()) {
        if (a.state !== 'ready') continue;
        ready++;
        const v = a.speed.imagesPerSecond ?? 0;
        totalSpeed += v;
        fastest = Math.max(fastest, v);
        if (passed.has(a)) continue;
        const held = this.queue.heldCount(a.id);
        if (held >= max) continue;
        if (!best || held < bestHeld || (held === bestHeld && a.lastDispatchAt < best.lastDispatchAt)) {
          best = a;
          bestHeld = held;
        }
      }
      if (!best) break;
      if (!this.queue.hasPending) {
        if (allRead && bestHeld === 0 && this.copyFor(best, now)) sent++;
        passed.add(best);
        continue;
      }
      const pending = this.queue.pendingItems;
      let size: number;
      if (this.settings.batchSize === 'auto') {
        const wanted = autoBatchSize(this.load(best), { now, unfinished, pending, totalSpeed, fastest }, this.settings.fixedBatch);
        // More inputs are being read: a busy actor waits for a full batch rather than take a scrap.
        size = wanted > pending && !allRead && bestHeld > 0 ? 0 : Math.min(wanted, pending);
      } else {
        size = fixedBatchSize(this.settings.batchSize, { allRead, remaining: this.queue.remainingItems(), ready, maxInFlight: max });
        if (pending < size && !allRead && bestHeld > 0) break;
      }
      if (size < 1) {
        passed.add(best);
        continue;
      }
      const batch = this.queue.take(best.id, size, now)!;
      this.send(best, batch, now);
      sent++;
    }
    return sent;
  }

  /** Gives idle `a` a copy of the batch expected to finish last, when it would finish it sooner. */
  private copyFor(a: Actor, now: number): boolean {
    const byHolder = new Map<string, { batchId: number; items: number; sentAt: number }[]>();
    for (const h of this.queue.held()) {
      if (this.queue.copies(h.batch.id) > 1 || h.actorId === a.id) continue;
      let list = byHolder.get(h.actorId);
      if (!list) byHolder.set(h.actorId, (list = []));
      list.push({ batchId: h.batch.id, items: h.batch.items.length, sentAt: h.sentAt });
    }
    const candidates: CopyCandidate[] = [];
    for (const [holderId, batches] of byHolder) {
      const holder = this.pool.actors.get(holderId);
      const speed = holder?.speed.imagesPerSecond ?? null;
      batches.sort((x, y) => x.sentAt - y.sentAt);
      // A holder runs its batches in the order sent: each ends after the ones before it.
      const last = holder?.speed.lastDoneAt ?? null;
      let at = last !== null && last > batches[0]!.sentAt ? last : batches[0]!.sentAt;
      for (const b of batches) {
        const start = Math.max(at, b.sentAt);
        at = speed === null ? Infinity : start + (b.items * 1000) / speed;
        // Past its expected time the holder is slower than we thought: assume it is at most half done.
        if (at < now) at = now + (now - start);
        candidates.push({ batchId: b.batchId, items: b.items, expectedAt: at });
      }
    }
    const pick = chooseCopy(candidates, a.speed.imagesPerSecond, now);
    if (!pick) return false;
    const batch = this.queue.copy(pick.batchId, a.id, now);
    if (!batch) return false;
    this.send(a, batch, now);
    this.stats.speculativeCopies++;
    const holder = [...this.queue.held()].find((h) => h.batch.id === batch.id && h.actorId !== a.id)?.actorId ?? 'another actor';
    this.log(`tail: batch ${batch.id} (${batch.items.length} images), held by ${holder} and expected last, also sent to idle ${a.id}; the first answer wins`);
    return true;
  }

  private send(a: Actor, batch: Batch, now: number): void {
    a.lastDispatchAt = now;
    a.lastBatchSize = batch.items.length;
    const frame = encodeBatchFrame(batch.id, batch.items.map((i) => ('bytes' in i ? i.bytes : { url: i.url })));
    a.link.sendBinary(frame);
    const wire = this.stats.wire;
    wire.batches++;
    wire.images += batch.items.length;
    wire.frameBytes += frame.byteLength;
    for (const i of batch.items) {
      if ('bytes' in i) wire.itemBytes += i.bytes.byteLength;
      else wire.urlInputs++;
    }
  }
}
