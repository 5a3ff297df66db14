/**
 * Dispatch: pending inputs cut into batches and handed to ready actors, the one with the fewest
 * batches in flight first, each batch as one binary frame. Batch sizes follow each actor's
 * measured speed (batchPlan.ts); at the job's tail an idle actor also runs the batch expected to
 * finish last, and the first valid answer wins. Wire bytes are counted here, where frames are made.
 */
import { encodeBatchFrame } from '../../shared/batchFrame.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import { wireInput } from '../io/inputItem.ts';
import type { PoolActor } from '../pool/actor.ts';
import { autoBatchSize, chooseCopy, fixedBatchSize, oneMoreAt, type ActorLoad, type CopyCandidate } from './batchPlan.ts';
import type { Batch, Workload } from './workload.ts';
import type { HostStats } from './hostStats.ts';

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
    private readonly pool: ActorRoster,
    private readonly workload: Workload,
    private readonly stats: HostStats,
    private readonly settings: DispatchSettings,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** What the plan needs to know of `a`: its speed, and the work it holds. */
  load(a: PoolActor): ActorLoad {
    const { items, oldestSentAt } = this.workload.loadOf(a.id);
    const lastDone = a.speed.lastDoneAt;
    const busySince = items === 0 ? null : lastDone !== null && lastDone > oldestSentAt ? lastDone : oldestSentAt;
    return { speed: a.speed.imagesPerSecond, heldItems: items, busySince, maxBatch: this.settings.maxBatch };
  }

  /** Inputs the ready actors could take now: their free batch slots × the batch each would get. */
  freeCapacity(): number {
    const perBatch = this.settings.batchSize === 'auto' ? this.settings.maxBatch : this.settings.batchSize;
    let slots = 0;
    for (const a of this.pool.actors.values())
      if (a.state === 'ready' && !a.retiring) slots += Math.max(0, this.settings.maxTasksInFlight - this.workload.heldCount(a.id));
    return slots * perBatch;
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
   *
   * One scan of the pool per call (its speeds and the actors with a free slot), then work only on
   * those actors: a call runs on every result, so with a thousand actors it must not scan the pool
   * once per actor it passes over.
   */
  run(now: number, allRead: boolean, unfinished: number): number {
    const max = this.settings.maxTasksInFlight;
    let ready = 0;
    let totalSpeed = 0;
    let fastest = 0;
    const free: PoolActor[] = [];
    // Who would finish one more input first, and second (as the pass starts): an actor the plan
    // gives nothing still gets one input when it is the first (batchPlan's "never starve").
    const auto = this.settings.batchSize === 'auto';
    let first = { id: '', at: Infinity };
    let second = Infinity;
    for (const a of this.pool.actors.values()) {
      if (a.state !== 'ready' || a.retiring) continue;
      ready++;
      const v = a.speed.imagesPerSecond ?? 0;
      totalSpeed += v;
      if (v > fastest) fastest = v;
      if (this.workload.heldCount(a.id) < max) free.push(a);
      if (auto) {
        const at = oneMoreAt(this.load(a), now);
        if (at < first.at) [first, second] = [{ id: a.id, at }, first.at];
        else if (at < second) second = at;
      }
    }
    let sent = 0;
    while (free.length > 0 && this.workload.hasPending) {
      // The actor with the fewest batches in flight, the longest without one first.
      let at = 0;
      let bestHeld = this.workload.heldCount(free[0]!.id);
      for (let i = 1; i < free.length; i++) {
        const held = this.workload.heldCount(free[i]!.id);
        if (held < bestHeld || (held === bestHeld && free[i]!.lastDispatchAt < free[at]!.lastDispatchAt)) {
          at = i;
          bestHeld = held;
        }
      }
      const best = free[at]!;
      const pending = this.workload.pendingItems;
      let size: number;
      if (this.settings.batchSize === 'auto') {
        const othersOneMoreAt = best.id === first.id ? second : first.at;
        const wanted = autoBatchSize(
          this.load(best),
          { now, unfinished, pending, totalSpeed, fastest, othersOneMoreAt },
          this.settings.fixedBatch,
        );
        // More inputs are being read: a busy actor waits for a full batch rather than take a scrap.
        size = wanted > pending && !allRead && bestHeld > 0 ? 0 : Math.min(wanted, pending);
      } else {
        size = fixedBatchSize(this.settings.batchSize, { allRead, remaining: this.workload.remainingItems(), ready, maxInFlight: max });
        if (pending < size && !allRead && bestHeld > 0) break;
      }
      if (size < 1) {
        free.splice(at, 1);
        continue;
      }
      const batch = this.workload.take(best.id, size, now)!;
      this.send(best, batch, now);
      sent++;
      if (bestHeld + 1 >= max) free.splice(at, 1);
    }
    if (allRead && !this.workload.hasPending)
      sent += this.tailCopies(
        free.filter((a) => this.workload.heldCount(a.id) === 0).sort((x, y) => x.lastDispatchAt - y.lastDispatchAt),
        now,
      );
    return sent;
  }

  /**
   * The tail: each idle actor also runs the batch expected to finish last, when it would finish it
   * sooner than its holder (batchPlan.chooseCopy). The batches out are listed once, latest first.
   */
  private tailCopies(idle: PoolActor[], now: number): number {
    if (idle.length === 0) return 0;
    const byHolder = new Map<string, { batchId: number; items: number; sentAt: number; copyable: boolean }[]>();
    for (const h of this.workload.held()) {
      if (this.workload.copies(h.batch.id) > 1) continue;
      let list = byHolder.get(h.actorId);
      if (!list) byHolder.set(h.actorId, (list = []));
      // A peer check takes its holder's time but is never copied.
      list.push({ batchId: h.batch.id, items: h.batch.items.length, sentAt: h.sentAt, copyable: !h.batch.check });
    }
    const candidates: (CopyCandidate & { holder: string })[] = [];
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
        if (b.copyable) candidates.push({ batchId: b.batchId, items: b.items, expectedAt: at, holder: holderId });
      }
    }
    candidates.sort((x, y) => y.expectedAt - x.expectedAt);
    let sent = 0;
    for (const a of idle) {
      const top = candidates[0];
      if (!top || !chooseCopy([top], a.speed.imagesPerSecond, now)) continue;
      const batch = this.workload.copy(top.batchId, a.id, now);
      if (!batch) continue;
      candidates.shift();
      this.send(a, batch, now);
      this.stats.speculativeCopies++;
      sent++;
      this.log(
        `tail: batch ${batch.id} (${batch.items.length} images), held by ${top.holder} and expected last, also ` +
          `sent to idle ${a.id}; the first answer wins`,
      );
    }
    return sent;
  }

  send(a: PoolActor, batch: Batch, now: number): void {
    a.sent(batch.items.length, now);
    const frame = encodeBatchFrame(
      batch.id,
      batch.items.map((i) => i.id),
      batch.items.map(wireInput),
    );
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
