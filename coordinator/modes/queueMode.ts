/**
 * A job on NATS JetStream (`run --queue`): this process publishes the job and its units, collects
 * the results and writes the rows; gateways anywhere (`tabpool gateway`, a head's `serve --queue`)
 * take its units for their tabs, and so does this process's own gateway for the tabs it serves.
 */
import { maxAnswerBytes, servedFiles } from '../actor/tabSpec.ts';
import { AUTO_UNIT_SIZE, QueueRun } from '../queue/queueRun.ts';
import { freshJobName, openQueueJob } from '../queue/queueSetup.ts';
import type { JobContext, JobMode, OpenedMode } from './jobMode.ts';
import { servedHere } from './servedHere.ts';

export function queueMode(ctx: JobContext, a: { cacheDir: string; webRoot: string }): JobMode<QueueRun> {
  const o = ctx.options;
  const name = o.job ?? freshJobName();
  const log = (line: string): void => ctx.events.log(line);
  return {
    describe: `on queue job ${name} at ${o.queue?.join(',')}`,
    async open(): Promise<OpenedMode<QueueRun>> {
      const p = ctx.job;
      const tabs = servedHere({
        ...o,
        cacheDir: a.cacheDir,
        webRoot: a.webRoot,
        maxPayload: maxAnswerBytes(p.content.columns, o.batchSize === 'auto' ? p.maxBatch : o.batchSize),
        files: servedFiles(p.content),
        log,
      });
      const published = { name: p.name, content: p.content, fixedBatch: p.fixedBatch, actorMemory: p.actorMemory, maxBatch: p.maxBatch };
      const queued = await openQueueJob(o, name, { ...published, rules: ctx.rules }, tabs.token, log);
      const unitSize = p.fixedBatch ?? (o.batchSize === 'auto' ? Math.min(AUTO_UNIT_SIZE, p.maxBatch) : o.batchSize);
      const job = new QueueRun({
        ...queued,
        options: o,
        rules: ctx.rules,
        actor: p.actor,
        keepBytes: p.actor.inputs === 'record',
        dataset: p.dataset,
        sink: ctx.sink,
        events: ctx.events,
        unitSize,
        skippedErrors: ctx.sink.writtenErrors,
        verify: ctx.verify,
        resolveUrl: p.resolveUrl,
      });
      const started = tabs
        .open({
          onMessage: (l, m, at) => job.onMessage(l, m, at),
          onClose: (l, c, r) => job.onClose(l, c, r),
          retire: (l, r) => queued.gateway.host.retire(l, r),
          status: (join) => job.status(join),
          fail: (err) => job.fail(err),
          drain: () => job.drain(),
        })
        .then((s) => ({
          ...s,
          notes: [
            `queue: job ${name} on ${o.queue!.join(',')} (${queued.resumed ? `resumed, incarnation ${queued.incarnation}` : 'new'}), ` +
              `${unitSize} inputs per batch, ack wait ${o.ackWaitMs / 1000}s; more tabs join through: tabpool gateway --queue ` +
              `${o.queue!.join(',')} --job ${name} --launch K`,
            ...s.notes,
          ],
        }));
      started.catch(() => undefined);
      return {
        job,
        started,
        close: async (ending) => {
          await tabs.close(ending);
          await queued.close();
        },
      };
    },
  };
}
