/**
 * A queue job served by a gateway: the job's spec and files read from NATS (`run --queue` published
 * them), its actor class checked here, and a gateway (queue/gateway.ts) feeding units to tabs that
 * are served by this process (`tabpool gateway`) or lent by a standing pool's head (each job of
 * `serve --queue`). Opening a queue job as a gateway is written here once, whoever opens it.
 */
import { randomBytes } from 'node:crypto';
import { TabpoolError } from '../../shared/errors.ts';
import { actorClassOf, rowRules } from '../actor/actorFromContent.ts';
import { tabSpecFor, type JobContent } from '../actor/tabSpec.ts';
import { Gateway } from '../queue/gateway.ts';
import { connectQueue, readContent, waitForSpec, type QueueJobSpec } from '../queue/jobStore.ts';
import type { JobMode, OpenedMode, TabSource } from './jobMode.ts';

export interface GatewayModeOptions {
  servers: string[];
  job: string;
  cacheDir: string;
  /** How long to wait for `run` to publish the job (a gateway may start first). */
  waitMs: number;
  heartbeatMs: number;
  log(line: string): void;
  /** Where its tabs come from, once the job's content is known (its files are what the tabs fetch). */
  tabs(content: JobContent, spec: QueueJobSpec, gatewayId: string): TabSource;
}

export function gatewayMode(o: GatewayModeOptions): JobMode<Gateway> {
  return {
    describe: `a gateway for queue job ${o.job} at ${o.servers.join(',')}`,
    async open(): Promise<OpenedMode<Gateway>> {
      const q = await connectQueue(o.servers, o.job);
      try {
        const spec = await waitForSpec(q, o.waitMs);
        if (!spec)
          throw new TabpoolError(
            'JOB_FAILED',
            `no job ${o.job} on ${o.servers.join(',')} after ${(o.waitMs / 1000).toFixed(0)}s: start it with tabpool ` +
              `run --queue ${o.servers.join(',')} --job ${o.job}, or check the name`,
          );
        const content = await readContent(q, spec, o.cacheDir);
        const cls = await actorClassOf(content);
        const gatewayId = `gw-${randomBytes(3).toString('hex')}`;
        const tabs = o.tabs(content, spec, gatewayId);
        const jobSpec = tabSpecFor(content, tabs.token, {
          numThreads: spec.tab.numThreads,
          allowSoftwareGpu: spec.tab.allowSoftwareGpu,
          recycle: spec.tab.recycle,
        });
        const gateway = new Gateway({ q, spec, gatewayId, jobSpec, rules: rowRules(cls, content), log: o.log, heartbeatMs: o.heartbeatMs });
        await gateway.start();
        const started = tabs.open({
          onMessage: (l, m, at) => gateway.onMessage(l, m, at),
          onClose: (l, c, r) => gateway.onClose(l, c, r),
          retire: (l, r) => gateway.host.retire(l, r),
          status: (join) => gateway.status(join),
          fail: (err) => {
            o.log(`queue job ${o.job}: ${(err as Error).message}`);
            void gateway.stop();
          },
          drain: () => void gateway.stop(),
        });
        started.catch(() => undefined);
        // Whoever lends the tabs hears of the inputs they answered.
        const tick = setInterval(() => tabs.progress(gateway.progress()), 1000);
        tick.unref();
        return {
          job: gateway,
          started,
          close: async (ending) => {
            clearInterval(tick);
            // Tabs first (their actors leave the job's pool), then the gateway (its batches go back), then NATS.
            await tabs.close(ending);
            await gateway.stop().catch(() => undefined);
            await q.nc.drain().catch(() => undefined);
          },
        };
      } catch (err) {
        await q.nc.close().catch(() => undefined);
        throw err;
      }
    },
  };
}
