/**
 * One inference job in this process (`tabpool run` without --queue), end to end: the dataset read
 * into the actor host (datasetSource.ts), the host's answers written as rows, or held for
 * verification (jobOutput.ts), and the job's lifecycle: start, the join timeout, drain, finish,
 * fail. The job ends when every input has exactly one row.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ToCoordinator } from '../../shared/protocol.ts';
import type { JobStatus } from '../../shared/status.ts';
import { ActorHost } from '../host/actorHost.ts';
import { systemClock, type Clock } from '../host/clock.ts';
import { readInput } from '../io/inputReader.ts';
import type { InputItem } from '../io/inputItem.ts';
import { errorRow } from '../io/outputRow.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { ActorLink } from '../pool/actor.ts';
import { poolPolicy } from '../pool/epPolicy.ts';
import { DatasetSource } from './datasetSource.ts';
import type { JobDeps } from './jobDeps.ts';
import { JobOutput, type Barring } from '../output/jobOutput.ts';
import type { JobStats } from '../output/jobStats.ts';
import { jobStatus } from '../output/jobStatus.ts';
import { actorShares } from '../output/actorShares.ts';
import { progressOf, type JobFigures, type JobProgress, type RunningJob } from '../output/runningJob.ts';
import { JoinWatch } from './joinWatch.ts';
import { pinnedThreads } from '../pool/threadShare.ts';

export class Job implements RunningJob {
  readonly host: ActorHost;
  readonly output: JobOutput;
  readonly options: JobOptions;
  readonly ended: Promise<void>;
  /** Resolves once the whole dataset has been read into the host (or the job stopped reading). */
  readonly allReadIn: Promise<void>;
  private source!: DatasetSource;
  private readonly joinWatch: JoinWatch;
  private readonly clock: Clock;
  private draining = false;
  private finished = false;
  private resolveEnded!: () => void;
  private rejectEnded!: (e: unknown) => void;

  constructor(private readonly deps: JobDeps) {
    const o = deps.options;
    this.options = o;
    this.clock = deps.clock ?? systemClock;
    const log = (line: string): void => deps.events.log(line);
    const ports = {
      bar: (b: Barring) => this.bar(b),
      redo: (items: InputItem[]) => this.host.redo(items),
      peer: (items: InputItem[], notHost: string) => this.host.peerCheck(items, notHost),
    };
    this.output = new JobOutput(
      deps.sink,
      o.out,
      {
        progress: (stats) => deps.events.progress(stats),
        written: () => this.onWritten(),
        fail: (err) => this.fail(err),
        log,
        now: () => this.clock.wall(),
      },
      deps.verify && { settings: deps.verify, ports },
      deps.skippedErrors ?? 0,
    );
    const read = deps.readInput ?? readInput;
    const resolveUrl = deps.resolveUrl ?? (async (source: string) => source);
    const perBatch = o.batchSize === 'auto' ? deps.maxBatch : o.batchSize;
    this.host = new ActorHost({
      settings: {
        batchSize: o.batchSize,
        maxBatch: deps.maxBatch,
        fixedBatch: deps.actor.fixedBatch,
        maxTasksInFlight: o.maxTasksInFlight,
        threads: pinnedThreads(o.numCpus),
        maxRetries: o.maxRetries,
        batchTimeoutMs: o.batchTimeoutMs,
        stallTimeoutMs: o.stallTimeoutMs,
        poolMin: o.pool.min,
        rules: deps.actor.rules,
      },
      policy: poolPolicy({ ...o, actorMemory: deps.actorMemory }),
      spec: (eps) => deps.actor.spec(eps),
      source: (intake) =>
        (this.source = new DatasetSource(intake, {
          dataset: deps.dataset,
          inputs: deps.actor.inputs,
          skip: deps.sink.written,
          readAheadItems: Math.max(4, o.pool.max * o.maxTasksInFlight * 2) * perBatch,
          unwritten: () => this.output.unwrittenRows,
          writeErrors: (rows) => this.output.writeUnsent(rows),
          stopped: () => this.finished || this.draining,
          log,
          read,
          resolveUrl,
        })),
      sink: {
        answered: (actor, items, results) => this.output.answer(actor.id, actor.hostId, items, results),
        failed: (item, error) => this.output.writeError(errorRow(item.id, error)),
      },
      events: {
        log,
        changed: () => this.endIfComplete(),
        started: () => deps.events.progress(this.stats),
        actorFailed: (actor, what) => this.joinWatch.recordFailure(actor, what),
        refused: () => this.joinWatch.failIfNoneCanJoin(),
        emptied: () => this.joinWatch.arm(),
        stalled: (v) => {
          if (v.kind === 'fail')
            this.fail(
              new TabpoolError(
                'STALLED',
                `${v.report}. --stall-timeout ${o.stallTimeoutMs / 1000}s passed twice; --resume continues the job`,
              ),
            );
        },
      },
      read,
      resolveUrl,
      unfinished: () => (this.stats.total === null ? 0 : this.stats.total - this.output.answered),
      busyElsewhere: () => this.output.checking > 0,
      clock: this.clock,
    });
    this.allReadIn = this.source.allReadIn;
    this.ended = new Promise((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    this.joinWatch = new JoinWatch(this.clock, {
      pool: this.host.pool,
      joinTimeoutMs: o.joinTimeoutMs,
      launch: o.launch,
      minimum: o.pool.min,
      log,
      started: () => this.host.isStarted,
      finished: () => this.finished,
      barred: () => this.output.barred.map((b) => b.reason),
      startShort: () => this.host.startWork(),
      fail: (err) => this.fail(err),
    });
  }

  /** Starts reading the dataset and the join timer; `total` is the dataset's size (resumed rows included). */
  start(total: number | null): void {
    this.output.begin(total);
    void this.source.run().then(
      () => {
        this.host.schedule();
        this.endIfComplete();
      },
      (err: unknown) => this.fail(err),
    );
    this.joinWatch.arm();
  }

  /** The job's rows and times (its output counts them). */
  get stats(): JobStats {
    return this.output.stats;
  }

  get pool(): ActorRoster {
    return this.host.pool;
  }
  get interrupted(): boolean {
    return this.draining;
  }
  get isFinished(): boolean {
    return this.finished;
  }

  progress(): JobProgress {
    return progressOf(this.stats, this.host.stats.workStartedAt, this.deps.actor.inputs);
  }

  figures(): JobFigures {
    const actors = [...this.host.pool.departed, ...this.host.pool.actors.values()];
    return {
      stats: this.stats,
      host: this.host.stats,
      workStartedAt: this.host.stats.workStartedAt,
      actors: actorShares(actors),
      barredHosts: this.host.pool.barred(),
    };
  }

  status(join: JobStatus['join']): JobStatus {
    return jobStatus(
      {
        host: this.host,
        stats: this.stats,
        settings: this.options,
        output: this.output,
        isFinished: this.finished,
        actor: { name: this.deps.actor.name, inputs: this.deps.actor.inputs, files: this.deps.actor.files },
      },
      join,
    );
  }

  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt?: number): void {
    this.host.onMessage(link, msg, receivedAt);
  }

  onClose(link: ActorLink, code: number, reason: string): void {
    this.host.onClose(link, code, reason);
  }

  /** A standing pool's head wants this tab back (another job's share): it leaves at a batch boundary. */
  retire(link: ActorLink, reason: string): void {
    this.host.retire(link, reason);
  }

  /** An actor lied (the output's verifier caught it): it, or with `hostBarred` its whole host, is closed and refused. */
  private bar(b: Barring): void {
    this.host.bar(b.hostBarred ? { hostId: b.hostId } : { actorId: b.actorId }, b.reason);
  }

  /** Rows on disk make room in the read-ahead window (it counts rows not yet written), and may end the job. */
  private onWritten(): void {
    this.source.wake();
    this.endIfComplete();
  }

  /** Ends the job once every input has its row (or, draining, once nothing is in flight). */
  endIfComplete(): void {
    if (this.finished || !this.source.exhausted) return;
    // Draining: inputs not yet sent stay unsent (a --resume does them); only in-flight ones finish.
    if (this.draining ? this.host.inFlight > 0 : !this.host.idle) return;
    // Every answer is in; rows still held wait on their actor's last check.
    if (this.output.busy) return this.output.finalChecks();
    this.finish();
  }

  /** Ctrl-C: stop reading, let in-flight batches finish, then end. */
  drain(): void {
    if (this.draining || this.finished) return;
    this.draining = true;
    this.host.drain();
    this.source.stop();
    this.endIfComplete();
  }

  private finish(): void {
    if (this.finished) return;
    this.stop(
      this.draining
        ? 'the job was interrupted; its output can be resumed with --resume'
        : 'the job is done; thank you — this tab can be closed',
    );
    this.output.end(this.clock.wall());
    // Resolve once every row is on disk, so whoever awaits `done` reads a complete output.
    this.deps.sink.flushed().then(
      () => this.resolveEnded(),
      (err: unknown) => this.rejectEnded(err),
    );
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.stop(`the job failed: ${(err as Error).message}`);
    this.rejectEnded(err);
  }

  /** No more work: timers off, every tab told why and closed. */
  private stop(reason: string): void {
    this.finished = true;
    this.joinWatch.cancel();
    this.host.shutdown(reason);
  }
}
