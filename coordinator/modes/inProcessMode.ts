/**
 * A job in this process (`run`, and `run --on URL`): the dataset read here into the job's own
 * actor host, its rows written here; its tabs served by this process or lent by a standing pool's
 * head (the tab source). Everything a job means is the same code whichever the tabs are.
 */
import { maxAnswerBytes, servedFiles, storedFiles, tabSpecFor } from '../actor/tabSpec.ts';
import { Job } from '../job/job.ts';
import type { JobContext, JobMode, OpenedMode, TabSource } from './jobMode.ts';
import { lentByHead } from './lentByHead.ts';
import { pinnedThreads } from '../pool/threadShare.ts';
import { servedHere } from './servedHere.ts';

/** The job's tabs, as --on and the serving flags say: a head's, or served here. */
function tabsFor(ctx: JobContext, a: { cacheDir: string; webRoot: string }): TabSource {
  const o = ctx.options;
  const log = (line: string): void => ctx.events.log(line);
  if (o.on !== null) {
    const placement = {
      pool: o.pool,
      ep: o.ep,
      allowSoftwareGpu: o.allowSoftwareGpu,
      numGpus: o.numGpus,
      numCpus: o.numCpus,
      actorMemory: ctx.job.actorMemory,
      weight: o.weight,
      priority: o.priority,
    };
    const job = { name: ctx.job.name, placement, out: o.out, total: ctx.job.total, files: storedFiles(ctx.job.content) };
    return lentByHead({ origin: o.on, submitToken: o.submitToken ?? '' }, job, log);
  }
  return servedHere({
    ...o,
    cacheDir: a.cacheDir,
    webRoot: a.webRoot,
    maxPayload: maxAnswerBytes(ctx.job.content.columns, o.batchSize === 'auto' ? ctx.job.maxBatch : o.batchSize),
    files: servedFiles(ctx.job.content),
    log,
  });
}

export function inProcessMode(ctx: JobContext, a: { cacheDir: string; webRoot: string }): JobMode<Job> {
  const o = ctx.options;
  return {
    describe: o.on === null ? 'in this process' : `on the standing pool at ${o.on}`,
    async open(): Promise<OpenedMode<Job>> {
      const tabs = tabsFor(ctx, a);
      const spec = tabSpecFor(ctx.job.content, tabs.token, {
        // Each actor's own count replaces it (host/threadPlan.ts).
        numThreads: pinnedThreads(o.numCpus) ?? 1,
        recycle: o.recycle,
        allowSoftwareGpu: o.allowSoftwareGpu,
      });
      const job = new Job({
        options: o,
        actor: { spec, fixedBatch: ctx.job.fixedBatch, rules: ctx.rules, ...ctx.job.actor },
        dataset: ctx.job.dataset,
        sink: ctx.sink,
        events: {
          log: (line) => ctx.events.log(line),
          progress: (stats) => {
            ctx.events.progress(stats);
            tabs.progress({ total: stats.total, done: stats.rows, errors: stats.errors });
          },
        },
        actorMemory: ctx.job.actorMemory,
        maxBatch: ctx.job.maxBatch,
        skippedErrors: ctx.sink.writtenErrors,
        resolveUrl: ctx.job.resolveUrl,
        verify: ctx.verify,
      });
      const started = tabs.open({
        onMessage: (l, m, at) => job.onMessage(l, m, at),
        onClose: (l, c, r) => job.onClose(l, c, r),
        retire: (l, r) => job.retire(l, r),
        status: (join) => job.status(join),
        fail: (err) => job.fail(err),
        drain: () => job.drain(),
      });
      started.catch(() => undefined);
      return { job, started, close: (ending) => tabs.close(ending) };
    },
  };
}
