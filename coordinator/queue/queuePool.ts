/**
 * `tabpool serve --queue nats://…`: a standing pool that serves every job put on a JetStream queue.
 * It watches the server for jobs (`tabpool run --queue` creates each one's work stream), and for
 * each one not done runs a gateway (gateway.ts, the actor host fed by the job's units) that takes
 * its tabs from the head as any submitting process does: through the head's own submit socket
 * (remote/remotePool.ts), so placement, budgets across jobs, hand-backs and the status page are the
 * head's, written once. Several heads on one queue are one pool across machines: each job's pool
 * and budgets count every gateway's actors (globalPool.ts).
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { actorClassOf, rowRules } from '../actor/actorFromContent.ts';
import { storedFiles, tabSpecFor } from '../actor/tabSpec.ts';
import { RemotePool } from '../remote/remotePool.ts';
import { Gateway } from './gateway.ts';
import { connectQueue, readContent, readSpec, readState, type QueueJob } from './jobStore.ts';

export interface QueuePoolOptions {
  servers: string[];
  /** The head this process runs, and its submit token. */
  head: { origin: string; submitToken: string; cert?: string | Buffer | null };
  cacheDir: string;
  log(line: string): void;
  /** How often the server is asked for new jobs. */
  scanMs?: number;
}

const WORK_SUBJECT = /^tabpool\.([A-Za-z0-9_-]{1,48})\.work$/;

export class QueuePool {
  private nc: NatsConnection | null = null;
  /** Jobs served now, or seen done (never served again). */
  private readonly jobs = new Map<string, { q: QueueJob; gateway: Gateway; remote: RemotePool } | 'done' | 'starting'>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: QueuePoolOptions) {}

  async start(): Promise<void> {
    try {
      this.nc = await connect({ servers: this.o.servers, name: 'tabpool serve', maxReconnectAttempts: -1 });
    } catch (err) {
      throw new Error(`could not connect to NATS at ${this.o.servers.join(', ')} (${(err as Error).message}); start nats-server -js`);
    }
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.o.scanMs ?? 2000);
    this.timer.unref();
  }

  /** The jobs on the server: every work stream tabpool made. */
  private async scan(): Promise<void> {
    if (!this.nc || this.stopped) return;
    try {
      const jsm = await jetstreamManager(this.nc);
      for await (const info of jsm.streams.list()) {
        const job = info.config.subjects?.map((s) => WORK_SUBJECT.exec(s)?.[1]).find(Boolean);
        if (job && !this.jobs.has(job)) void this.serve(job);
      }
    } catch (err) {
      this.o.log(`queue: could not list the jobs on ${this.o.servers.join(', ')}: ${(err as Error).message}`);
    }
  }

  private async serve(job: string): Promise<void> {
    this.jobs.set(job, 'starting');
    let q: QueueJob | null = null;
    try {
      q = await connectQueue(this.o.servers, job);
      const spec = await readSpec(q);
      const state = await readState(q);
      if (!spec) {
        // Published in a moment (run creates the stream first): the next scan tries again.
        this.jobs.delete(job);
        await q.nc.close();
        return;
      }
      if (state.phase === 'done' || state.phase === 'failed') {
        this.jobs.set(job, 'done');
        await q.nc.close();
        return;
      }
      const content = await readContent(q, spec, this.o.cacheDir);
      const cls = await actorClassOf(content);
      const files = storedFiles(content);
      const gatewayId = `gw-${randomBytes(3).toString('hex')}`;
      let gateway: Gateway | null = null;
      const remote = new RemotePool(
        this.o.head.origin,
        this.o.head.submitToken,
        {
          name: `queue job ${job}: ${spec.modelName}`,
          placement: {
            pool: spec.pool,
            ep: spec.ep,
            allowSoftwareGpu: spec.allowSoftwareGpu,
            numGpus: spec.numGpus,
            numCpus: spec.numCpus,
            actorMemory: spec.actorMemory,
            weight: 1,
            priority: 0,
          },
          out: `${this.o.servers[0]} job ${job}`,
          total: null,
          files,
        },
        {
          onMessage: (l, m, at) => gateway?.onMessage(l, m, at),
          onClose: (l, c, r) => gateway?.onClose(l, c, r),
          retire: (l, r) => gateway?.host.retire(l, r),
        },
        { log: this.o.log, cancel: () => void gateway?.stop(), fail: (err) => this.o.log(`queue job ${job}: ${err.message}`) },
        120_000,
        this.o.head.cert ?? null,
      );
      const jobSpec = tabSpecFor(content, remote.grant, {
        numThreads: spec.tab.numThreads,
        allowSoftwareGpu: spec.tab.allowSoftwareGpu,
        recycle: spec.tab.recycle,
      });
      gateway = new Gateway({ q, spec, gatewayId, jobSpec, rules: rowRules(cls, content), log: this.o.log });
      await gateway.start();
      await remote.start();
      this.jobs.set(job, { q, gateway, remote });
      this.o.log(`queue: serving job ${job} (${spec.modelName}) as gateway ${gatewayId}`);
      const watch = setInterval(() => {
        const p = gateway!.phase;
        remote.progress({ total: null, done: gateway!.counts.inputs, errors: 0 });
        if (p !== 'done' && p !== 'failed' && !gateway!.failure && !this.stopped) return;
        clearInterval(watch);
        remote.finish(
          p === 'done' ? 'done' : 'failed',
          p === 'done' ? `${gateway!.counts.inputs} inputs served here` : 'the job failed (see tabpool run)',
        );
        void this.end(job);
      }, 1000);
      watch.unref();
    } catch (err) {
      this.o.log(`queue: could not serve job ${job}: ${(err as Error).message}`);
      this.jobs.set(job, 'done');
      await q?.nc.close().catch(() => undefined);
    }
  }

  private async end(job: string): Promise<void> {
    const served = this.jobs.get(job);
    this.jobs.set(job, 'done');
    if (!served || typeof served === 'string') return;
    served.remote.close();
    await served.gateway.stop().catch(() => undefined);
    await served.q.nc.drain().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.jobs.keys()].map((j) => this.end(j)));
    await this.nc?.drain().catch(() => undefined);
  }
}
