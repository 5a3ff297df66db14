/**
 * The job's work: inputs waiting for an actor, and batches out on actors. This queue is the one
 * owner of in-flight state: who holds which batch, since when, and which answers are still
 * expected. Batches are cut at dispatch time, to the size the taking actor should get.
 *
 * Dispatch is at-least-once: a batch comes back here when its actor fails, and one that keeps
 * failing is split in halves until the input that breaks it stands alone (and gets an error row)
 * while the rest go through. A batch may be held by two actors at once (a speculative copy at the
 * job's tail); the first valid answer completes it and the other copy is cancelled.
 */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import { bytesOf, type InputItem } from '../io/inputItem.ts';
import type { HostIntake } from './ports.ts';

export interface Batch {
  id: number;
  items: InputItem[];
  /**
   * Failures so far, weighted: a batch the actor reported failed counts 1; a batch lost with its
   * actor (tab closed, socket cut, deadline missed) counts ACTOR_LOSS_WEIGHT, since tabs die for
   * reasons of their own, yet an input that keeps killing tabs must still be isolated.
   */
  attempts: number;
  lastError: SerializedError | null;
  /**
   * A peer check (peerChecks.ts): another actor's inputs computed again, answered to the verifier
   * rather than written. It is never retried, split or copied: lost, it answers null.
   */
  check?: CheckAnswer;
  /**
   * Peer checks riding in this batch (peerChecks.ts): their inputs follow the batch's own in its
   * frame, and their answers are split off the result. Lost with the batch, each answers null; a
   * batch going back to the queue goes without them.
   */
  riders?: Rider[];
}

export type CheckAnswer = (answer: { actorId: string; results: ItemResult[] } | null) => void;

/** A peer check that rides in another batch rather than going out alone. */
export interface Rider {
  items: InputItem[];
  answer: CheckAnswer;
}

/** One actor's copy of a batch. */
export interface Held {
  batch: Batch;
  actorId: string;
  /** Monotonic ms when this actor was sent it. */
  sentAt: number;
}

export type RequeueOutcome =
  | { kind: 'retry' }
  | { kind: 'split'; into: number }
  | { kind: 'give-up'; item: InputItem; error: SerializedError }
  /** Another actor still holds a copy: nothing goes back to the queue. */
  | { kind: 'still-held' }
  /** A peer check's copy failed: it answered null, and nothing goes back to the queue. */
  | { kind: 'check-lost' };

export interface Completion {
  batch: Batch;
  sentAt: number;
  /** Actors whose copies are now cancelled. */
  cancelled: string[];
}

/** How much losing a batch with its actor counts against the batch (see Batch.attempts). */
export const ACTOR_LOSS_WEIGHT = 0.25;

/** Who a failure is blamed on: the batch's inputs, or the actor that held it. */
export type FailureBlame = 'input' | 'actor';

interface InFlight {
  batch: Batch;
  /** actorId → sentAt. */
  holders: Map<string, number>;
}

export class Workload {
  /** Fresh inputs in dataset order; `head` is the next to take (no O(n) shifts). */
  private fresh: InputItem[] = [];
  private head = 0;
  private freshBytes = 0;
  /** Failed batches waiting to run again, first in line. */
  private readonly retries: Batch[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private readonly byActor = new Map<string, Set<number>>();
  /** Actors a batch of whose ended (answered, failed, cancelled) since `takeFreed` last ran: they may take work. */
  private readonly freed = new Set<string>();
  /** Batch copies held by actors, all actors together. */
  private holdings = 0;
  /** Inputs in the batches out on actors (peer checks aside), kept as they go out and come back: asked on every result. */
  private inFlightItems = 0;
  /** Batches completed by someone else whose cancelled copy this actor may still answer: batch id → its copy. */
  private readonly cancelled = new Map<string, Map<number, Held>>();
  private nextId = 1;

  constructor(private readonly maxRetries: number) {}

  /** Queues one fresh input. */
  add(item: InputItem): void {
    this.fresh.push(item);
    this.freshBytes += bytesOf(item);
  }

  /** Inputs to run again, first in line: their answers were thrown away, or they come back with `attempts` failures already. */
  requeue(items: InputItem[], attempts = 0): void {
    if (items.length > 0) this.retries.unshift({ id: this.nextId++, items, attempts, lastError: null });
  }

  /** Whether any of these inputs is out on an actor now. */
  anyInFlight(ids: ReadonlySet<string>): boolean {
    for (const f of this.inFlight.values()) if (!f.batch.check) for (const i of f.batch.items) if (ids.has(i.id)) return true;
    return false;
  }

  /**
   * Takes waiting inputs back (another process runs them): all of `ids`, or none when any is out on
   * an actor. Scans what waits, so it is for rare events (an actor gone, a drain), not for dispatch.
   */
  withdraw(ids: ReadonlySet<string>): boolean {
    if (ids.size === 0 || this.anyInFlight(ids)) return false;
    const fresh = this.fresh.slice(this.head);
    const kept = fresh.filter((i) => !ids.has(i.id));
    this.fresh = kept;
    this.head = 0;
    this.freshBytes = kept.reduce((n, i) => n + bytesOf(i), 0);
    for (let r = this.retries.length - 1; r >= 0; r--) {
      const b = this.retries[r]!;
      b.items = b.items.filter((i) => !ids.has(i.id));
      if (b.items.length === 0) this.retries.splice(r, 1);
    }
    return true;
  }

  /** Inputs waiting for an actor (fresh and retried). */
  get pendingItems(): number {
    let n = this.fresh.length - this.head;
    for (const b of this.retries) n += b.items.length;
    return n;
  }

  /** Bytes of fresh inputs waiting: the feeder's read-ahead is bounded by this too. */
  get pendingBytes(): number {
    return this.freshBytes;
  }

  get hasPending(): boolean {
    return this.retries.length > 0 || this.head < this.fresh.length;
  }

  /** Batches out on actors (a batch with two copies counts once). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Inputs not yet finished: waiting plus out on actors. */
  remainingItems(): number {
    return this.pendingItems + this.inFlightItems;
  }

  get empty(): boolean {
    return !this.hasPending && this.inFlight.size === 0;
  }

  /**
   * Cuts the next batch for `actorId`, of at most `maxItems` inputs: a failed batch first (its
   * front part, when it is larger), else fresh inputs in order.
   */
  take(actorId: string, maxItems: number, now: number): Batch | null {
    const limit = Math.max(1, Math.floor(maxItems));
    let batch: Batch;
    const retry = this.retries[0];
    if (retry) {
      if (retry.items.length <= limit) {
        this.retries.shift();
        batch = retry;
      } else {
        batch = { id: this.nextId++, items: retry.items.slice(0, limit), attempts: retry.attempts, lastError: retry.lastError };
        retry.items = retry.items.slice(limit);
      }
    } else {
      if (this.head >= this.fresh.length) return null;
      const items = this.fresh.slice(this.head, this.head + limit);
      this.head += items.length;
      for (const i of items) this.freshBytes -= bytesOf(i);
      if (this.head > 4096 && this.head * 2 > this.fresh.length) {
        this.fresh = this.fresh.slice(this.head);
        this.head = 0;
      }
      batch = { id: this.nextId++, items, attempts: 0, lastError: null };
    }
    this.inFlight.set(batch.id, { batch, holders: new Map() });
    this.inFlightItems += batch.items.length;
    this.hold(batch.id, actorId, now);
    return batch;
  }

  /** Sends `actorId` a peer check of `items`: held like any batch (a slot, a deadline), answered to `check`. */
  addCheck(items: InputItem[], actorId: string, now: number, check: CheckAnswer): Batch {
    const batch: Batch = { id: this.nextId++, items, attempts: 0, lastError: null, check };
    this.inFlight.set(batch.id, { batch, holders: new Map() });
    this.hold(batch.id, actorId, now);
    return batch;
  }

  /** Gives `actorId` a copy of a batch another actor holds (the tail's speculative copy). */
  copy(batchId: number, actorId: string, now: number): Batch | null {
    const f = this.inFlight.get(batchId);
    if (!f || f.holders.has(actorId)) return null;
    this.hold(batchId, actorId, now);
    return f.batch;
  }

  private hold(batchId: number, actorId: string, now: number): void {
    this.inFlight.get(batchId)!.holders.set(actorId, now);
    let set = this.byActor.get(actorId);
    if (!set) this.byActor.set(actorId, (set = new Set()));
    if (!set.has(batchId)) this.holdings++;
    set.add(batchId);
  }

  private unhold(batchId: number, actorId: string): void {
    this.inFlight.get(batchId)?.holders.delete(actorId);
    const set = this.byActor.get(actorId);
    if (set?.delete(batchId)) this.holdings--;
    if (set?.size === 0) this.byActor.delete(actorId);
    this.freed.add(actorId);
  }

  /** A batch is no longer out (answered, or failed by its last holder). */
  private land(f: InFlight): void {
    this.inFlight.delete(f.batch.id);
    if (!f.batch.check) this.inFlightItems -= f.batch.items.length;
  }

  /** The actors a batch of whose ended since the last call (the dispatcher looks at these, not the whole pool). */
  takeFreed(): string[] {
    const ids = [...this.freed];
    this.freed.clear();
    return ids;
  }

  /**
   * What an answer from `actorId` for `batchId` is: its copy (to check, then `complete`), `late`
   * for a copy it was told to drop (ignored, not a failure), or null when it never held it (a
   * violation).
   */
  lookup(batchId: number, actorId: string): Held | { late: Held } | null {
    const sentAt = this.inFlight.get(batchId)?.holders.get(actorId);
    if (sentAt !== undefined) return { batch: this.inFlight.get(batchId)!.batch, actorId, sentAt };
    const dropped = this.cancelled.get(actorId);
    const copy = dropped?.get(batchId);
    if (dropped && copy) {
      dropped.delete(batchId);
      if (dropped.size === 0) this.cancelled.delete(actorId);
      return { late: copy };
    }
    return null;
  }

  /** Completes a batch with `actorId`'s answer (which the caller checked); any other copy is cancelled. */
  complete(batchId: number, actorId: string): Completion | null {
    const f = this.inFlight.get(batchId);
    const sentAt = f?.holders.get(actorId);
    if (!f || sentAt === undefined) return null;
    const cancelled = [...f.holders.keys()].filter((a) => a !== actorId);
    for (const a of cancelled) {
      let copies = this.cancelled.get(a);
      if (!copies) this.cancelled.set(a, (copies = new Map()));
      copies.set(batchId, { batch: f.batch, actorId: a, sentAt: f.holders.get(a)! });
    }
    for (const a of [...f.holders.keys()]) this.unhold(batchId, a);
    this.land(f);
    return { batch: f.batch, sentAt, cancelled };
  }

  /** Whether `actorId` holds `batchId` now. */
  holds(batchId: number, actorId: string): boolean {
    return this.inFlight.get(batchId)?.holders.has(actorId) === true;
  }

  /** Batch copies held, all actors together. */
  get heldTotal(): number {
    return this.holdings;
  }

  /** How many batches `actorId` holds. */
  heldCount(actorId: string): number {
    return this.byActor.get(actorId)?.size ?? 0;
  }

  /** Inputs `actorId` holds and when the oldest of its copies was sent (Infinity when it holds none), without building a list. */
  loadOf(actorId: string): { items: number; oldestSentAt: number } {
    let items = 0;
    let oldestSentAt = Infinity;
    const ids = this.byActor.get(actorId);
    if (ids) {
      for (const id of ids) {
        const f = this.inFlight.get(id)!;
        items += f.batch.items.length + (f.batch.riders?.reduce((n, r) => n + r.items.length, 0) ?? 0);
        oldestSentAt = Math.min(oldestSentAt, f.holders.get(actorId)!);
      }
    }
    return { items, oldestSentAt };
  }

  /** The batches `actorId` holds, with when each was sent to it. */
  heldBy(actorId: string): Held[] {
    const ids = this.byActor.get(actorId);
    if (!ids) return [];
    return [...ids].map((id) => {
      const f = this.inFlight.get(id)!;
      return { batch: f.batch, actorId, sentAt: f.holders.get(actorId)! };
    });
  }

  /** Every copy out on an actor. */
  *held(): Generator<Held> {
    for (const f of this.inFlight.values()) for (const [actorId, sentAt] of f.holders) yield { batch: f.batch, actorId, sentAt };
  }

  /** How many actors hold a copy of `batchId` (0 when it is not in flight). */
  copies(batchId: number): number {
    return this.inFlight.get(batchId)?.holders.size ?? 0;
  }

  /**
   * `actorId`'s copy failed (or was lost with it). While another actor holds a copy nothing
   * returns to the queue; otherwise the batch goes back first in line, and past `maxRetries`
   * failures it is split, a single input past them given up (the caller writes its error row).
   */
  fail(batchId: number, actorId: string, error: SerializedError, blame: FailureBlame): RequeueOutcome | null {
    const f = this.inFlight.get(batchId);
    if (!f || !f.holders.has(actorId)) return null;
    this.unhold(batchId, actorId);
    const batch = f.batch;
    for (const r of batch.riders ?? []) r.answer(null);
    batch.riders = undefined;
    if (batch.check) {
      this.land(f);
      batch.check(null);
      return { kind: 'check-lost' };
    }
    batch.attempts += blame === 'input' ? 1 : ACTOR_LOSS_WEIGHT;
    batch.lastError = error;
    if (f.holders.size > 0) return { kind: 'still-held' };
    this.land(f);
    if (batch.attempts <= this.maxRetries) {
      this.retries.unshift(batch);
      return { kind: 'retry' };
    }
    if (batch.items.length === 1) return { kind: 'give-up', item: batch.items[0]!, error };
    // Halves start one failure short of splitting again, so isolation takes log2(n) more failures.
    const half = Math.ceil(batch.items.length / 2);
    const part = (items: InputItem[]): Batch => ({ id: this.nextId++, items, attempts: this.maxRetries, lastError: error });
    this.retries.unshift(part(batch.items.slice(0, half)), part(batch.items.slice(half)));
    return { kind: 'split', into: 2 };
  }

  /** Forgets an actor that left: its cancelled copies can no longer answer. (Its held batches are failed by the caller.) */
  forget(actorId: string): void {
    this.cancelled.delete(actorId);
  }
}

/** What a work source may ask of the host (ports.ts), over the host's workload. */
export function intakeOf(w: Workload, add: HostIntake['add'], freeCapacity: () => number): HostIntake {
  return {
    add,
    get pendingItems() {
      return w.pendingItems;
    },
    get pendingBytes() {
      return w.pendingBytes;
    },
    freeCapacity,
    withdraw: (ids) => w.withdraw(ids),
    anyInFlight: (ids) => w.anyInFlight(ids),
  };
}
