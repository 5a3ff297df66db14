/**
 * A job's supervision, written once for every mode: start it on its dataset, honour a drain or a
 * cancel that came while it was being set up, wait for its end, make the output whole on disk, and
 * say how it ended (the status and exit code of its summary, and the ending its mode tells the head).
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { JobSink } from '../io/outputSink.ts';
import type { Ending } from '../modes/jobMode.ts';
import type { RunningJob } from '../output/runningJob.ts';
import { EXIT } from './exitCodes.ts';
import type { RunSummary } from './summary.ts';

export interface Supervised {
  summary: Pick<RunSummary, 'status' | 'exitCode' | 'error'>;
  ending: Ending;
}

export async function superviseJob(
  job: RunningJob,
  o: { total: number; sink: JobSink; pendingStop: 'drain' | 'cancel' | null; cancelReason: string },
): Promise<Supervised> {
  job.start(o.total);
  // The job can fail while tabs are still launching: its end is observed from the start.
  job.ended.catch(() => undefined);
  if (o.pendingStop === 'drain') job.drain();
  if (o.pendingStop === 'cancel') job.fail(new TabpoolError('JOB_FAILED', o.cancelReason));
  await job.ended;
  await o.sink.close();
  const s = job.figures().stats;
  if (job.interrupted)
    return {
      summary: { status: 'interrupted', exitCode: EXIT.interrupted, error: null },
      ending: { status: 'interrupted', message: 'drained; --resume finishes it' },
    };
  return {
    summary: { status: 'done', exitCode: s.errors + s.skippedErrors > 0 ? EXIT.someErrors : EXIT.ok, error: null },
    ending: { status: 'done', message: `${s.rows} rows` },
  };
}
