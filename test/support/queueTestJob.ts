/**
 * A job's streams and buckets on a real nats-server, created as `run --queue` creates them (connect,
 * ensureStreams, next incarnation), for in-process tests of the queue's modules; and a bounded wait
 * for what NATS delivers. Never a mock.
 */
import { headers } from '@nats-io/transport-node';
import { encodeResult, SIGNATURE_HEADER, sign, type UnitResult } from '../../coordinator/queue/envelope.ts';
import {
  connectQueue,
  ensureStreams,
  newSecret,
  nextIncarnation,
  UNITS_PER_INCARNATION,
  type QueueConnection,
} from '../../coordinator/queue/jobStore.ts';

export interface TestJob {
  q: QueueConnection;
  secret: string;
  /** This run's first unit id (its incarnation's). */
  first: number;
}

/** A job as `run` opens it: its streams, consumers and buckets created, its incarnation taken. */
export async function openTestJob(url: string, job: string): Promise<TestJob> {
  const q = await connectQueue([url], job);
  await ensureStreams(q, 30_000);
  const incarnation = await nextIncarnation(q);
  return { q, secret: newSecret(), first: incarnation * UNITS_PER_INCARNATION };
}

/** Polls until `check` holds, for what NATS delivers in its own time; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Messages a stream holds now. */
export async function streamMessages(q: QueueConnection, stream: string): Promise<number> {
  return (await q.jsm.streams.info(stream)).state.messages;
}

/** A unit's result on the job's results stream, as a gateway publishes it (signed with `secret`). */
export async function publishResult(q: QueueConnection, secret: string, result: UnitResult): Promise<void> {
  const body = encodeResult(result);
  const h = headers();
  h.set(SIGNATURE_HEADER, sign(secret, body));
  await q.js.publish(q.names.resultsSubject, body, { headers: h });
}
