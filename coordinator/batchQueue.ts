/**
 * Batches waiting for an actor, and the ones out on actors. Dispatch is at-least-once; a batch
 * comes back here when its actor fails, and one that keeps failing is split in halves until the
 * input that breaks it stands alone (and gets an error row) while the rest go through.
 */
import type { SerializedError } from '../shared/errors.ts';

export interface BatchItem {
  id: string;
  bytes: Uint8Array;
}

export interface Batch {
  id: number;
  items: BatchItem[];
  /**
   * Failures so far, weighted: a batch the actor reported failed counts 1; a batch lost with its
   * actor (tab closed, socket cut, deadline missed) counts ACTOR_LOSS_WEIGHT, since tabs die for
   * reasons of their own, yet an input that keeps killing tabs must still be isolated.
   */
  attempts: number;
  lastError: SerializedError | null;
}

export interface InFlight {
  batch: Batch;
  actorId: string;
  sentAt: number;
}

export type RequeueOutcome =
  | { kind: 'retry' }
  | { kind: 'split'; into: number }
  | { kind: 'give-up'; item: BatchItem; error: SerializedError };

/** How much losing a batch with its actor counts against the batch (see Batch.attempts). */
export const ACTOR_LOSS_WEIGHT = 0.25;

/** Who a failure is blamed on: the batch's inputs, or the actor that held it. */
export type FailureBlame = 'input' | 'actor';

export class BatchQueue {
  private readonly pending: Batch[] = [];
  readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;

  constructor(private readonly maxRetries: number) {}

  get pendingCount(): number {
    return this.pending.length;
  }

  add(items: BatchItem[]): Batch {
    const batch: Batch = { id: this.nextId++, items, attempts: 0, lastError: null };
    this.pending.push(batch);
    return batch;
  }

  /** Inputs not yet finished: waiting plus out on actors. */
  remainingItems(): number {
    let n = 0;
    for (const b of this.pending) n += b.items.length;
    for (const f of this.inFlight.values()) n += f.batch.items.length;
    return n;
  }

  /**
   * Halves the next batch until it has at most `maxItems` inputs (the halves go first, in order).
   * The job's tail uses it so the last work spreads over every actor instead of leaving some idle
   * while one finishes a full batch.
   */
  splitFront(maxItems: number): void {
    let front = this.pending[0];
    while (front && front.items.length > Math.max(1, maxItems)) {
      this.pending.splice(0, 1, ...this.halve(front, front.attempts));
      front = this.pending[0];
    }
  }

  /** Two batches, in order, holding `batch`'s inputs; each starts at `attempts` failures. */
  private halve(batch: Batch, attempts: number): [Batch, Batch] {
    const half = Math.ceil(batch.items.length / 2);
    const part = (items: BatchItem[]): Batch => ({ id: this.nextId++, items, attempts, lastError: batch.lastError });
    return [part(batch.items.slice(0, half)), part(batch.items.slice(half))];
  }

  /** Takes the next batch for `actorId`. */
  take(actorId: string, now: number): Batch | undefined {
    const batch = this.pending.shift();
    if (batch) this.inFlight.set(batch.id, { batch, actorId, sentAt: now });
    return batch;
  }

  /** Marks a batch done; returns it only when `actorId` holds it (a result from anyone else is refused). */
  complete(batchId: number, actorId: string): Batch | null {
    const f = this.inFlight.get(batchId);
    if (!f || f.actorId !== actorId) return null;
    this.inFlight.delete(batchId);
    return f.batch;
  }

  heldBy(actorId: string): InFlight[] {
    return [...this.inFlight.values()].filter((f) => f.actorId === actorId);
  }

  /**
   * Puts a failed batch back, at the front so it is not starved. Past `maxRetries` failures a
   * batch is split; a single input past them is given up (the caller writes its error row).
   */
  fail(batchId: number, error: SerializedError, blame: FailureBlame = 'input'): RequeueOutcome | null {
    const f = this.inFlight.get(batchId);
    if (!f) return null;
    this.inFlight.delete(batchId);
    const batch = f.batch;
    batch.attempts += blame === 'input' ? 1 : ACTOR_LOSS_WEIGHT;
    batch.lastError = error;
    if (batch.attempts <= this.maxRetries) {
      this.pending.unshift(batch);
      return { kind: 'retry' };
    }
    if (batch.items.length === 1) {
      return { kind: 'give-up', item: batch.items[0]!, error };
    }
    // Halves start one failure short of splitting again, so isolation takes log2(n) more failures.
    const parts = this.halve(batch, this.maxRetries);
    this.pending.unshift(...parts);
    return { kind: 'split', into: parts.length };
  }

  get empty(): boolean {
    return this.pending.length === 0 && this.inFlight.size === 0;
  }
}
