/** Each actor's share of a job, as an actor host measured it: for the summary. */
import { actorThroughput, type PoolActor } from '../pool/actor.ts';
import type { JobFigures } from './runningJob.ts';

export function actorShares(actors: readonly PoolActor[]): JobFigures['actors'] {
  return actors
    .filter((a) => a.batchesDone > 0)
    .map((a) => ({
      id: a.id,
      host: a.hostId,
      ep: a.ep,
      batches: a.batchesDone,
      images: a.imagesDone,
      imagesPerSecond: actorThroughput(a),
    }));
}
