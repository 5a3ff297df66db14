/**
 * Peer checks riding in a batch of work (peerChecks.ts): the frame carries the batch's inputs, then
 * its riders'; the answer is split the same way, the riders' parts to the verifier.
 */
import type { ResultMessage } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { Batch } from './workload.ts';

/** What a batch's frame carries: its own inputs, then its riders'. */
export function sentItems(batch: Batch): InputItem[] {
  return batch.riders ? [...batch.items, ...batch.riders.flatMap((r) => r.items)] : batch.items;
}

/** Answers each rider of `batch` with its part of `msg` (taking them off the batch); returns the batch's own part. */
export function takeRiders(batch: Batch, actorId: string, msg: ResultMessage): ResultMessage {
  const riders = batch.riders;
  if (!riders) return msg;
  batch.riders = undefined;
  let at = batch.items.length;
  for (const r of riders) {
    r.answer({ actorId, results: msg.items.slice(at, at + r.items.length) });
    at += r.items.length;
  }
  return { ...msg, items: msg.items.slice(0, batch.items.length) };
}
