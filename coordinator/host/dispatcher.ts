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
import { sentItems } from './riders.ts';
import type { Batch, Rider, Workload } from './workload.ts';
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
  /**
   * Ready actors that may have a free slot: every actor when one becomes ready (the roster's epoch),
   * and each actor a batch of whose ended (the workload's), dropped by a pass that finds it full or
   * gone. A fixed batch size's pass looks at these alone, so its cost follows the actors that just
   * answered, not the pool's size.
   */
  private readonly candidates = new Set<PoolActor>();
  private seenEpoch = -1;

  constructor(
    private readonly pool: ActorRoster,
    private readonly workload: Workload,
    private readonly stats: HostStats,
    private readonly settings: DispatchSettings,
    private readonly log: (line: string) => void = () => undefined,
    /** A peer check waiting that may ride in the batch about to go to `a`, in at most `room` inputs. */
    private readonly rider: (a: PoolActor, room: number) => Rider | null = () => null,
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
    // Kept counts, not a scan (a gateway asks on every result): the slots of the actors taking batches,
    // less what they hold (an actor over its slots, holding a peer check or a copy, counts against the others).
    let heldByHandedBack = 0;
    for (const a of this.pool.handedBack) heldByHandedBack += this.workload.heldCount(a.id);
    const slots = this.pool.takingCount * this.settings.maxTasksInFlight - (this.workload.heldTotal - heldByHandedBack);
    return Math.max(0, slots) * perBatch;
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
   * Under --batch-size auto, one scan of the pool per call (its speeds, who would finish one more
   * input first, and the actors with a free slot), then work only on those actors. Under a fixed
   * size, only the candidates (actors that became ready or answered since the last pass): a call
   * runs on every result, so with a thousand actors it must not scan the pool each time.
   */
  run(now: number, allRead: boolean, unfinished: number): number {
    const max = this.settings.maxTasksInFlight;
    const auto = this.settings.batchSize === 'auto';
    let totalSpeed = 0;
    let fastest = 0;
    const free: PoolActor[] = [];
    // Who would finish one more input first, and second (as the pass starts): an actor the plan
    // gives nothing still gets one input when it is the first (batchPlan's "never starve").
    let first = { id: '', at: Infinity };
    let second = Infinity;
    if (auto) {
      this.workload.takeFreed();
      for (const a of this.pool.actors.values()) {
        if (a.state !== 'ready' || a.retiring) continue;
        const v = a.speed.imagesPerSecond ?? 0;
        totalSpeed += v;
        if (v > fastest) fastest = v;
        if (this.workload.heldCount(a.id) < max) free.push(a);
        const at = oneMoreAt(this.load(a), now);
        if (at < first.at) [first, second] = [{ id: a.id, at }, first.at];
        else if (at < second) second = at;
      }
    } else {
      if (this.pool.readyEpoch !== this.seenEpoch) {
        this.seenEpoch = this.pool.readyEpoch;
        for (const a of this.pool.actors.values()) if (a.state === 'ready') this.candidates.add(a);
      }
      for (const id of this.workload.takeFreed()) {
        const a = this.pool.actors.get(id);
        if (a) this.candidates.add(a);
      }
      for (const a of this.candidates) {
        if (a.state === 'ready' && !a.retiring && this.workload.heldCount(a.id) < max) free.push(a);
        else this.candidates.delete(a);
      }
    }
    // Ready actors, for a fixed size's tail only (batches shrink so every slot stays busy): counted when needed.
    let ready: number | null = null;
    const readyCount = (): number => (ready ??= this.pool.ready().filter((a) => !a.retiring).length);
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
        const n = this.settings.batchSize;
        size =
          allRead && n > 1
            ? fixedBatchSize(n, { allRead, remaining: this.workload.remainingItems(), ready: readyCount(), maxInFlight: max })
            : n;
        if (pending < size && !allRead && bestHeld > 0) break;
      }
      if (size < 1) {
        free.splice(at, 1);
        continue;
      }
      // A peer check rides in the batch, which is cut that much shorter: the frame is the size planned.
      const rider = size > 1 ? this.rider(best, size - 1) : null;
      const batch = this.workload.take(best.id, size - (rider?.items.length ?? 0), now)!;
      if (rider) batch.riders = [rider];
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
      // A peer check takes its holder's time but is never copied, nor a batch a check rides in (it must stay off the checked host).
      list.push({ batchId: h.batch.id, items: h.batch.items.length, sentAt: h.sentAt, copyable: !h.batch.check && !h.batch.riders });
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
    const items = sentItems(batch);
    a.sent(items.length, now);
    const frame = encodeBatchFrame(
      batch.id,
      items.map((i) => i.id),
      items.map(wireInput),
    );
    a.link.sendBinary(frame);
    const wire = this.stats.wire;
    wire.batches++;
    wire.images += items.length;
    wire.frameBytes += frame.byteLength;
    for (const i of items) {
      if ('bytes' in i) wire.itemBytes += i.bytes.byteLength;
      else wire.urlInputs++;
    }
  }
}
