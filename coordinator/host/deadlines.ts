/**
 * How long an actor may hold a batch before it counts as frozen (asleep, hung, a stuck GPU), and
 * how long a tab may take to load the model: limits that adapt to each actor's measured speed,
 * so a slow but honest tab is never evicted for being slow.
 */
import type { PoolActor } from '../pool/actor.ts';
import type { Held } from './workload.ts';

/** Before an actor has finished a batch we cannot know its speed: SwiftShader needs ~8 s an image. */
export const FIRST_BATCH_DEADLINE_MS = 10 * 60_000;
/** A tab still loading after this long holds a pool slot for nothing. */
export const LOAD_DEADLINE_MS = 10 * 60_000;
/** Once measured, a batch may take this many times the actor's own average before it counts as frozen. */
const DEADLINE_FACTOR = 10;
const MIN_DEADLINE_MS = 60_000;

/** The limit for `actor` holding a batch of `items`; `fixedMs` is --batch-timeout when given. */
export function batchDeadline(actor: PoolActor, items: number, fixedMs: number | null): number {
  if (fixedMs !== null) return fixedMs;
  if (actor.imagesDone === 0) return FIRST_BATCH_DEADLINE_MS;
  // Round trips include waiting behind the actor's other batch, so this is already per slot.
  const msPerImage = actor.roundTripMs / actor.imagesDone;
  return Math.max(MIN_DEADLINE_MS, DEADLINE_FACTOR * msPerImage * items);
}

export interface Overdue {
  actor: PoolActor;
  batchId: number;
  limitMs: number;
}

/** The first copy out longer than its limit, or null. */
export function findOverdue(
  held: Iterable<Held>,
  actors: ReadonlyMap<string, PoolActor>,
  now: number,
  fixedMs: number | null,
): Overdue | null {
  for (const h of held) {
    const actor = actors.get(h.actorId);
    if (!actor) continue;
    const limitMs = batchDeadline(actor, h.batch.items.length, fixedMs);
    if (now - h.sentAt > limitMs) return { actor, batchId: h.batch.id, limitMs };
  }
  return null;
}

/** An actor that has been loading the model for longer than LOAD_DEADLINE_MS, or null. */
export function findStuckLoading(actors: Iterable<PoolActor>, wallNow: number): PoolActor | null {
  for (const a of actors) if (a.state === 'loading' && wallNow - a.joinedAt > LOAD_DEADLINE_MS) return a;
  return null;
}

/** The actor to evict now, if any: one holding a batch past its deadline, or stuck loading the model. */
export function dueEviction(
  held: Iterable<Held>,
  actors: ReadonlyMap<string, PoolActor>,
  now: number,
  wallNow: number,
  fixedMs: number | null,
): { actor: PoolActor; reason: string; log: string } | null {
  const overdue = findOverdue(held, actors, now, fixedMs);
  if (overdue) {
    const s = (overdue.limitMs / 1000).toFixed(0);
    return {
      actor: overdue.actor,
      reason: `no answer to batch ${overdue.batchId} within ${s}s`,
      log: `${overdue.actor.id} missed the deadline for batch ${overdue.batchId} (${s}s): evicting it`,
    };
  }
  const stuck = findStuckLoading(actors.values(), wallNow);
  if (stuck)
    return {
      actor: stuck,
      reason: 'model load took too long',
      log: `${stuck.id} did not finish loading the model in ${LOAD_DEADLINE_MS / 60_000} min: evicting it`,
    };
  return null;
}
