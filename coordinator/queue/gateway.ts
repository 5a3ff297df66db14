/**
 * A gateway: the actor host (host/actorHost.ts), fed with units taken from the job's work queue on
 * NATS JetStream and answering onto its results stream (unitWork.ts), its pool shared with every
 * other gateway of the job (globalPool.ts). `tabpool gateway` is one; `tabpool run --queue` runs one
 * for its own tabs too. What a tab sees, and how its batches are cut, timed, copied at the tail,
 * retried and isolated, is the host's, exactly as without --queue.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ExecutionProvider, JobSpec, ToCoordinator } from '../../shared/protocol.ts';
import type { JobStatus } from '../../shared/status.ts';
import { jobStatus } from '../output/jobStatus.ts';
import { newJobStats } from '../output/jobStats.ts';
import { ActorHost } from '../host/actorHost.ts';
import type { Clock } from '../host/clock.ts';
import type { RowRules } from '../host/resultCheck.ts';
import type { InputReader } from '../io/datasetFeeder.ts';
import { readInput } from '../io/inputReader.ts';
import type { ActorLink } from '../pool/actor.ts';
import { poolPolicy } from '../pool/epPolicy.ts';
import { GlobalPool, syncPool } from './globalPool.ts';
import { watchState, type QueueConnection, type QueueJobSpec, type QueueJobState } from './jobStore.ts';
import { UnitSource } from './unitSource.ts';
import { UnitWork } from './unitWork.ts';
import { pinnedThreads } from '../pool/threadShare.ts';

export interface GatewayDeps {
  q: QueueConnection;
  spec: QueueJobSpec;
  gatewayId: string;
  /** The spec a tab loads the actor and model by, for the EPs it is offered. */
  jobSpec(eps: ExecutionProvider[]): JobSpec;
  /** What each row its tabs send must be (the declared columns, the actor's own check). */
  rules: RowRules;
  log(line: string): void;
  clock?: Clock;
  /** How the URL fallback fetches what no tab could (tests replace it). */
  read?: InputReader;
  /** The job as the status page names it: the actor, what it reads, its files. */
  describe?: JobStatus['job'];
  heartbeatMs?: number;
}

/** How a gateway's part of a job ended: the job is done or failed (run says so), or this gateway stopped. */
export type GatewayEnd = 'done' | 'failed' | 'stopped';

export class Gateway {
  readonly host: ActorHost;
  readonly global: GlobalPool;
  private work!: UnitWork;
  private readonly units: UnitSource;
  private state: QueueJobState = { phase: 'running', reason: null, barred: [] };
  private readonly barred = new Set<string>();
  private stopped = false;
  private stopWatch: (() => void) | null = null;
  private readonly ticker: NodeJS.Timeout;
  private ticks = 0;
  private failed: TabpoolError | null = null;
  private readonly startedAt = Date.now();
  private settleEnded!: (end: GatewayEnd) => void;
  private failEnded!: (err: TabpoolError) => void;
  /**
   * Settles when its part of the job ends: the job done or failed (by `run`), or the gateway stopped; rejects
   * with STALLED when it gave up on its own (the watchdog), its batches handed back.
   */
  readonly ended: Promise<GatewayEnd>;

  constructor(private readonly d: GatewayDeps) {
    const s = d.spec;
    this.ended = new Promise<GatewayEnd>((resolve, reject) => {
      this.settleEnded = resolve;
      this.failEnded = reject;
    });
    this.ended.catch(() => undefined);
    this.global = new GlobalPool(d.q, d.gatewayId, () => {
      void this.host.sync();
      this.work.wake();
    });
    this.units = new UnitSource(d.q, s.secret, s.ackWaitMs, d.log);
    const policy = poolPolicy(s);
    this.host = new ActorHost({
      settings: {
        batchSize: s.batchSize,
        maxBatch: s.maxBatch,
        fixedBatch: s.fixedBatch,
        maxTasksInFlight: s.maxTasksInFlight,
        threads: pinnedThreads(s.numCpus),
        maxRetries: s.maxRetries,
        batchTimeoutMs: s.batchTimeoutMs,
        stallTimeoutMs: s.stallTimeoutMs,
        poolMin: s.pool.min,
        rules: d.rules,
      },
      policy: { ...policy, elsewhere: () => this.global.elsewhere() },
      spec: (eps) => d.jobSpec(eps),
      source: (intake) =>
        (this.work = new UnitWork(intake, {
          units: this.units,
          spec: s,
          gatewayId: d.gatewayId,
          taking: () => !this.stopped && this.state.phase === 'running',
          started: () => this.host.isStarted,
          hasActors: () => this.host.pool.active().length > 0,
          log: d.log,
        })),
      sink: {
        answered: (actor, items, results) => this.work.answered(actor, items, results),
        failed: (item, error) => this.work.failed(item, error),
      },
      shared: (pool) => ({ sync: () => syncPool(this.global, pool, d.gatewayId, s.pool.max), readyCount: () => this.global.readyCount() }),
      events: {
        log: d.log,
        changed: () => this.work.trim(this.state.phase !== 'running' ? 'all' : 'excess'),
        emptied: () => this.work.trim('empty'),
        stalled: (v) => {
          if (v.kind !== 'fail') return;
          this.failed = new TabpoolError(
            'STALLED',
            `${v.report}; --stall-timeout ${s.stallTimeoutMs / 1000}s passed twice: this gateway gives its batches back and stops`,
          );
          this.failEnded(this.failed);
          void this.stop();
        },
      },
      read: d.read ?? readInput,
      // While the queue has more, there is plenty of work: only the tail (nothing left to take) shrinks batches.
      unfinished: () => (this.work.exhausted ? 0 : Infinity),
      resolveUrl: async (url) => url,
      clock: d.clock,
    });
    this.ticker = setInterval(() => {
      // Tabs waiting for a slot: a gateway that died frees its slots only when its key expires.
      if (++this.ticks % 3 === 0 && this.host.pool.standby().length > 0) void this.host.sync().then(() => this.work.wake());
    }, 1000);
    this.ticker.unref();
  }

  async start(): Promise<void> {
    await this.global.start();
    this.stopWatch = await watchState(this.d.q, (st) => this.onState(st));
  }

  get phase(): QueueJobState['phase'] {
    return this.state.phase;
  }

  get counts(): UnitWork['counts'] {
    return this.work.counts;
  }

  /** The job as `run` published it. */
  get spec(): QueueJobSpec {
    return this.d.spec;
  }

  /** Why it gave up on its own (the watchdog), or null. */
  get failure(): TabpoolError | null {
    return this.failed;
  }

  /** Its status page: its tabs, and the inputs they answered (it writes no rows: `run` does). */
  status(join: JobStatus['join']): JobStatus {
    const s = this.d.spec;
    const stats = { ...newJobStats(this.startedAt, 0, 0), rows: this.counts.inputs };
    return jobStatus(
      {
        host: this.host,
        stats,
        settings: { pool: s.pool, verifyRate: 0, batchSize: s.batchSize, heartbeatMs: this.d.heartbeatMs ?? 15_000 },
        actor: this.d.describe ?? { name: s.modelName, inputs: s.tab.inputs, files: s.tab.files },
        output: null,
        isFinished: this.state.phase === 'done',
      },
      join,
    );
  }

  /** Rows so far as whoever lends its tabs counts them: the inputs its tabs answered. */
  progress(): { total: null; done: number; errors: number } {
    return { total: null, done: this.counts.inputs, errors: 0 };
  }

  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt?: number): void {
    this.host.onMessage(link, msg, receivedAt);
  }

  onClose(link: ActorLink, code: number, reason: string): void {
    this.host.onClose(link, code, reason);
  }

  /** The job's state changed (run drains, finishes, or bars an actor or host). */
  private onState(st: QueueJobState): void {
    this.state = st;
    for (const b of st.barred) {
      const key = `${b.host}/${b.actor ?? ''}`;
      if (this.barred.has(key)) continue;
      this.barred.add(key);
      // Actors are named `gateway/actor-N` in the job: only this gateway's own are closed here.
      if (b.actor === null) this.host.bar({ hostId: b.host }, b.reason);
      else if (b.actor.startsWith(`${this.d.gatewayId}/`)) this.host.bar({ actorId: b.actor.slice(this.d.gatewayId.length + 1) }, b.reason);
    }
    // Draining: units not started go back (a resumed run's gateways do them); started ones finish.
    if (st.phase !== 'running') {
      this.host.drain();
      this.work.trim('all');
    } else if (!this.stopped) this.host.resume();
    if (st.phase === 'done' || st.phase === 'failed') {
      this.host.shutdown(st.phase === 'done' ? 'the job is done; thank you — this tab can be closed' : `the job failed: ${st.reason}`);
      this.settleEnded(st.phase);
    }
    this.work.wake();
  }

  /** Stops taking work and gives back what it holds. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.stopWatch?.();
    this.host.drain();
    this.work.trim('all');
    this.units.stop();
    await this.global.stop();
    this.settleEnded('stopped');
  }

  /** The job's state as `run` last published it (its reason, when it failed). */
  get jobState(): QueueJobState {
    return this.state;
  }
}
