/**
 * `tabpool serve --queue nats://…`: a standing pool that serves every job put on a JetStream queue.
 * It watches the server for jobs (`tabpool run --queue` creates each one's work stream), and for
 * each one not done runs a gateway (gateway.ts, the actor host fed by the job's units) that takes
 * its tabs from the head as any submitting process does: through the head's own submit socket
 * (remote/remotePool.ts), so placement, budgets across jobs, hand-backs and the status page are the
 * head's, written once. Several heads on one queue are one pool across machines: each job's pool
 * and budgets count every gateway's actors (globalPool.ts).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { storedFiles } from '../actor/tabSpec.ts';
import { epSettings } from '../pool/epPolicy.ts';
import type { Gateway } from '../queue/gateway.ts';
import { connectQueue, readSpec, readState } from '../queue/jobStore.ts';
import { gatewayMode } from './gatewayMode.ts';
import type { Ending, OpenedMode } from './jobMode.ts';
import { lentByHead } from './lentByHead.ts';

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
  private readonly jobs = new Map<string, OpenedMode<Gateway> | 'done' | 'starting'>();
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
    try {
      // A job published in a moment (run creates the stream first) is tried again at the next scan; one ended is never served.
      const q = await connectQueue(this.o.servers, job);
      const [spec, state] = await Promise.all([readSpec(q), readState(q)]).finally(() => q.nc.close());
      if (!spec) return void this.jobs.delete(job);
      if (state.phase === 'done' || state.phase === 'failed') return void this.jobs.set(job, 'done');
      const mode = gatewayMode({
        servers: this.o.servers,
        job,
        cacheDir: this.o.cacheDir,
        waitMs: 0,
        heartbeatMs: 15_000,
        log: this.o.log,
        tabs: (content, s) =>
          lentByHead(
            { origin: this.o.head.origin, submitToken: this.o.head.submitToken, cert: this.o.head.cert ?? null },
            {
              name: `queue job ${job}: ${s.modelName}`,
              placement: { ...epSettings(s), weight: 1, priority: 0 },
              out: `${this.o.servers[0]} job ${job}`,
              total: null,
              files: storedFiles(content),
            },
            this.o.log,
          ),
      });
      const opened = await mode.open();
      this.jobs.set(job, opened);
      const started = await opened.started;
      this.o.log(`queue: serving job ${job} (${started.notes.join('; ')})`);
      await this.supervise(job, opened);
    } catch (err) {
      this.o.log(`queue: could not serve job ${job}: ${(err as Error).message}`);
      await this.end(job, { status: 'failed', message: (err as Error).message });
    }
  }

  /** Until its part of the job ends; then the head is told how it ended. */
  private async supervise(job: string, opened: OpenedMode<Gateway>): Promise<void> {
    const gateway = opened.job;
    const end = await gateway.ended.catch(() => 'failed' as const);
    const inputs = gateway.counts.inputs;
    await this.end(
      job,
      end === 'done'
        ? { status: 'done', message: `${inputs} inputs served here` }
        : { status: 'failed', message: 'the job failed (see tabpool run)' },
    );
  }

  private async end(job: string, ending: Ending): Promise<void> {
    const served = this.jobs.get(job);
    this.jobs.set(job, 'done');
    if (!served || typeof served === 'string') return;
    await served.close(ending);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.jobs.keys()].map((j) => this.end(j, { status: 'cancelled', message: 'the head stopped' })));
    await this.nc?.drain().catch(() => undefined);
  }
}
