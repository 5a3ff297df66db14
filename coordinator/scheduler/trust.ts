/** Wires verification (verify/verifier.ts) into a job: the reference, the fetches, what a pass and a lie do. */
import { CLOSE } from '../../shared/closeCodes.ts';
import { TabpoolError } from '../../shared/errors.ts';
import { Verifier } from '../verify/verifier.ts';
import type { BatchItem } from './batchQueue.ts';
import type { Job } from './job.ts';
import type { VerifySettings } from './jobDeps.ts';

export function trustNoTab(job: Job, v: VerifySettings): Verifier {
  return new Verifier(v.rate, {
    reference: v.reference,
    fetch: async (input) => {
      const r = await v.read(await v.resolveUrl(input.source));
      return 'bytes' in r ? r.bytes : null;
    },
    release: (rows) => job.output.write(rows),
    caught: (actorId, hostId, detail, discarded) => barHost(job, actorId, hostId, detail, discarded),
    failed: (err) => job.fail(new TabpoolError('JOB_FAILED', `verification could not run the model on the coordinator (${err.message}); rerun with --verify 0 to trust the tabs`)),
    settled: () => job.checkDone(),
    random: v.random,
  });
}

/**
 * A tab lied (its answers disagreed with the trusted reference): its host is barred, its actors
 * told why and closed, and the inputs of its unwritten rows computed again by others.
 */
function barHost(job: Job, actorId: string, hostId: string, detail: string, discarded: BatchItem[]): void {
  const reason = `${actorId} sent wrong results (${detail}); host ${hostId} is barred from this job`;
  if (!job.pool.barred.has(hostId)) {
    job.pool.barred.set(hostId, reason);
    job.events.log(`${reason}; ${discarded.length} unwritten row(s) of it are computed again elsewhere`);
  }
  job.output.discard(discarded.length);
  job.queue.requeue(discarded);
  for (const a of [...job.pool.actors.values()].filter((x) => x.hostId === hostId)) {
    a.link.sendJson({ type: 'shutdown', reason });
    job.evict(a, CLOSE.barred, 'barred: wrong results');
  }
  job.output.verifier?.barHost(hostId, detail);
  job.schedule();
}
