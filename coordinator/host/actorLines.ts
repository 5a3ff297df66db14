/** What the host says of an actor, in words: ready (with what it measured), and why an input was given up. */
import { formatError, type SerializedError } from '../../shared/errors.ts';
import type { ReadyMessage } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';

export function readyLine(actorId: string, msg: ReadyMessage): string {
  const figure = (f: ReadyMessage['probe'][number]): string =>
    `${f.ep} ${f.imagesPerSecond !== null ? `${f.imagesPerSecond.toFixed(1)} img/s` : f.note}`;
  const figures = msg.probe.length ? ` (measured ${msg.probe.map(figure).join(', ')})` : '';
  return (
    `${actorId} ready on ${msg.ep}${figures}: model ${msg.modelFromCache ? 'from cache' : 'downloaded'}, ` +
    `loaded in ${(msg.loadMs / 1000).toFixed(1)}s, warm-up ${(msg.warmupMs / 1000).toFixed(1)}s`
  );
}

/** The error row of an input that failed alone on every try: the actor's own error, or RETRIES_EXHAUSTED. */
export function giveUpError(item: InputItem, error: SerializedError, maxRetries: number): SerializedError {
  const tries = `on every try (--max-retries ${maxRetries})`;
  return error.code === 'ACTOR_ERROR'
    ? { code: 'ACTOR_ERROR', message: `${item.id}: ${error.message} (${tries})` }
    : { code: 'RETRIES_EXHAUSTED', message: `${item.id}: failed ${tries}; last error ${formatError(error)}` };
}
