/**
 * A unit (one batch from the queue) as a gateway holds it: which of its inputs are answered, which
 * wait for an actor, how often each failed, and whether it is past --max-retries deliveries (its
 * inputs then run one per batch, so a bad input gets its own error row and the rest go through).
 */
import type { ItemResult } from '../../shared/protocol.ts';
import type { Actor } from '../pool/actor.ts';
import type { UnitResult } from './envelope.ts';
import type { Unit } from './unitSource.ts';

export type Answer = UnitResult['answers'][number];

export interface Held {
  unit: Unit;
  answers: (Answer | null)[];
  /** Inputs waiting for an actor (all of them at first). */
  pending: number[];
  failures: number[];
  /** Past --max-retries deliveries: its inputs run one per batch. */
  isolate: boolean;
  /** Finished or handed back: answers still on their way are ignored. */
  gone: boolean;
}

export function holdUnit(unit: Unit, maxRetries: number): Held {
  const n = unit.header.ids.length;
  return { unit, answers: new Array(n).fill(null), pending: [...Array(n).keys()], failures: new Array(n).fill(0), isolate: unit.deliveries > maxRetries + 1, gone: false };
}

/** Input `i`'s answer, by `actor` of gateway `gatewayId`. */
export function answerOf(h: Held, i: number, gatewayId: string, actor: Actor, result: ItemResult): Answer {
  return { id: h.unit.header.ids[i]!, actor: `${gatewayId}/${actor.id}`, host: actor.hostId, ep: actor.ep, result };
}

/** Every input answered. */
export function complete(h: Held): boolean {
  return h.answers.every((a) => a !== null);
}
