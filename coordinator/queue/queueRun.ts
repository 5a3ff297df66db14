/**
 * `tabpool run --queue`: the job on NATS JetStream. This process reads the dataset into units
 * (batches) on the work queue, a bounded window ahead of the rows; collects the gateways' results;
 * checks them (and, with --verify, a sample of each actor's against its own model); and writes each
 * input's row exactly once. Its own tabs are served by a Gateway like any other process's.
 *
 * Resume: every unit is recorded in the job's units bucket before it goes on the queue, and
 * forgotten once its rows are written. A resumed `run` tracks the recorded units again (their
 * results may be on the queue, or still to come) and reads only the rest of the dataset; a recorded
 * unit is put on the queue again under its own id, which JetStream drops as a duplicate if it got
 * there before (so no batch is queued twice), and keeps if the first `run` died before sending it.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ToCoordinator } from '../../shared/protocol.ts';
import type { Dataset } from '../io/dataset.ts';
import { DatasetFeeder, readDatasetItem, type InputReader, type UrlResolver } from '../io/datasetFeeder.ts';
import { readInput } from '../io/inputReader.ts';
import { errorRow, type RowSink } from '../io/outputRow.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { ActorLink } from '../pool/actor.ts';
import { withoutBytes, type InputItem } from '../io/inputItem.ts';
import type { RowRules } from '../host/resultCheck.ts';
import { JobOutput, type Barring, type VerifySettings } from '../output/jobOutput.ts';
import type { JobStats } from '../output/jobStats.ts';
import { jobStatus } from '../output/jobStatus.ts';
import { progressOf, type JobEvents, type JobFigures, type JobProgress, type RunningJob } from '../output/runningJob.ts';
import type { JobStatus } from '../../shared/status.ts';
import { Collector } from './collector.ts';
import type { Gateway } from './gateway.ts';
import { putState, UNITS_PER_INCARNATION, type QueueConnection, type QueueJobSpec, type QueueJobState } from './jobStore.ts';
import { forgetUnit, Publisher, recordedUnits } from './publisher.ts';
import { noActorsError, RunWatch } from './runWatch.ts';

/**
 * Inputs per unit with --batch-size auto: units are cut before any actor's speed is known (they may
 * go to any gateway's actor), so auto is a fixed size that keeps a wasm tab's batch near a second or two.
 */
export const AUTO_UNIT_SIZE = 16;

export interface QueueRunDeps {
  q: QueueConnection;
  spec: QueueJobSpec;
  /** This run's incarnation of the job (jobStore.nextIncarnation). */
  incarnation: number;
  options: JobOptions;
  /** What each row must be (the declared columns, the actor's own check). */
  rules: RowRules;
  /** Records stay whole in the collector (they are small, and cannot be read again cheaply); images keep only their source. */
  keepBytes: boolean;
  /** For messages and the status page: the actor's name, and what it reads. */
  actor: JobStatus['job'];
  dataset: Dataset;
  sink: RowSink;
  events: JobEvents;
  /** Serves this process's own tabs. */
  gateway: Gateway;
  /** Inputs per unit. */
  unitSize: number;
  skippedErrors: number;
  verify?: VerifySettings;
  read?: InputReader;
  resolveUrl?: UrlResolver;
}

export class QueueRun implements RunningJob {
  readonly output: JobOutput;
  readonly options: JobOptions;
  readonly ended: Promise<void>;
  readonly collector: Collector;
  /** When the job's pool first had a ready actor (any gateway's). */
  private workStartedAt: number | null = null;
  private readonly publisher: Publisher;
  private readonly feeder: DatasetFeeder;
  /** Ids of units a previous run recorded: tracked as they are, not read from the dataset again. */
  private readonly resumed = new Set<string>();
  private readonly window: number;
  private readonly read: InputReader;
  private readonly resolveUrl: UrlResolver;
  private state: QueueJobState = { phase: 'running', reason: null, barred: [] };
  private allRead = false;
  private draining = false;
  private finished = false;
  private noActorsSince: number | null = null;
  private readonly watch: RunWatch;
  private timer: NodeJS.Timeout | null = null;
  private resolveEnded!: () => void;
  private rejectEnded!: (e: unknown) => void;

  constructor(private readonly d: QueueRunDeps) {
    const o = d.options;
    this.options = o;
    this.read = d.read ?? readInput;
    this.resolveUrl = d.resolveUrl ?? (async (s) => s);
    this.watch = new RunWatch(o.stallTimeoutMs, Date.now());
    // Rows are durable once the sink's write resolves: only then are their results acked.
    const sink: RowSink = {
      written: d.sink.written,
      write: async (rows) => {
        await d.sink.write(rows);
        this.collector.written(rows.map((r) => r.id));
        this.watch.progressed(Date.now());
      },
      flushed: () => d.sink.flushed(),
    };
    const ports = { bar: (b: Barring) => this.bar(b), redo: (items: InputItem[]) => void this.redo(items) };
    this.output = new JobOutput(
      sink,
      o.out,
      {
        progress: (s) => d.events.progress(s),
        written: () => this.endIfComplete(),
        fail: (err) => this.fail(err),
        log: (l) => d.events.log(l),
        now: () => Date.now(),
      },
      d.verify && { settings: d.verify, ports },
      d.skippedErrors,
    );
    const first = d.incarnation * UNITS_PER_INCARNATION;
    this.collector = new Collector(
      d.q,
      d.spec.secret,
      {
        rules: d.rules,
        output: this.output,
        log: (l) => d.events.log(l),
        redo: (items) => void this.redo(items),
      },
      first,
    );
    // The collector keeps each input's id and source, not its bytes: a check or a redo reads it again.
    this.publisher = new Publisher(d.q, d.spec.secret, d.unitSize, first, (u) =>
      this.collector.track(
        u.id,
        u.items.map((i) => (d.keepBytes ? i : withoutBytes(i))),
      ),
    );
    this.window = Math.max(16, o.pool.max * o.maxTasksInFlight * 2);
    this.feeder = new DatasetFeeder(
      d.dataset,
      {
        skip: { has: (id) => d.sink.written.has(id) || this.resumed.has(id) },
        wantsMore: () => this.unanswered < this.window,
        add: (item) => this.publisher.add(item),
        writeErrors: (rows) => this.output.writeUnsent(rows),
        stopped: () => this.finished || this.draining,
        log: (l) => d.events.log(l),
      },
      d.actor.inputs,
      this.read,
      this.resolveUrl,
    );
    this.ended = new Promise((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
  }

  /**
   * Units on the queue no actor has answered yet: what the read-ahead window bounds. Units answered whose rows
   * wait on a check are not counted: counting them let a window full of held rows stop the reading, so no new
   * batch came to be checked and release them (the queue stalled at 16 of 48 units, held, with actors idle).
   * Held rows are bounded apart: an actor's batches are checked once it holds HELD_LIMIT rows.
   */
  private get unanswered(): number {
    return this.collector.pending - this.collector.answeredPending;
  }

  /** The job's rows and times (its output counts them). */
  get stats(): JobStats {
    return this.output.stats;
  }

  get interrupted(): boolean {
    return this.draining;
  }
  get isFinished(): boolean {
    return this.finished;
  }

  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt?: number): void {
    this.d.gateway.onMessage(link, msg, receivedAt);
  }
  onClose(link: ActorLink, code: number, reason: string): void {
    this.d.gateway.onClose(link, code, reason);
  }

  progress(): JobProgress {
    return progressOf(this.stats, this.workStartedAt, this.d.actor.inputs);
  }

  /**
   * What this run measured of the job. Actors are every gateway's, as the results named them, each
   * with the rate its results reached this process at; dispatch and wire figures are left out: they
   * are each gateway's own, and this process sees only its own tabs'.
   */
  figures(): JobFigures {
    const actors = [...this.collector.perActor].map(([id, a]) => ({
      id,
      host: a.host,
      ep: a.ep,
      batches: a.units,
      images: a.images,
      imagesPerSecond: a.lastAt > a.firstAt ? (a.images * 1000) / (a.lastAt - a.firstAt) : null,
    }));
    const barredHosts = this.state.barred.filter((b) => b.actor === null).map((b) => ({ host: b.host, reason: b.reason }));
    return { stats: this.stats, host: null, workStartedAt: this.workStartedAt, actors, barredHosts };
  }

  /** The status page of this process: its own gateway's tabs, and the job's rows. */
  status(join: JobStatus['join']): JobStatus {
    return jobStatus(
      {
        host: this.d.gateway.host,
        stats: this.stats,
        settings: this.options,
        output: this.output,
        isFinished: this.finished,
        actor: this.d.actor,
      },
      join,
    );
  }

  start(total: number | null): void {
    this.output.begin(total);
    void this.run().catch((err: unknown) => this.fail(err));
  }

  private async run(): Promise<void> {
    await this.resume();
    await this.collector.start();
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => this.d.events.log(`NATS: ${(err as Error).message}`)), 1000);
    await this.feeder.run();
    if (!this.draining) this.publisher.flush();
    await this.publisher.idle();
    this.allRead = true;
    this.endIfComplete();
  }

  /** Units an earlier run of this job recorded and did not finish: tracked again, and queued again if they never got there. */
  private async resume(): Promise<void> {
    const recorded = await recordedUnits(this.d.q);
    let units = 0;
    for (const [id, entry] of recorded) {
      const items = entry.ids.map((uid, i) => ({ id: uid, source: entry.sources[i] ?? '' }));
      const open = items.filter((x) => !this.d.sink.written.has(x.id));
      if (open.length === 0) {
        await forgetUnit(this.d.q, id);
        continue;
      }
      units++;
      for (const uid of entry.ids) this.resumed.add(uid);
      // Tracked with every id the unit had (its result answers them all); those already written are closed at once.
      this.collector.track(id, items);
      this.collector.written(entry.ids.filter((uid) => this.d.sink.written.has(uid)));
      this.publisher.republish(id, await this.readAgain(open), false);
    }
    if (units > 0)
      this.d.events.log(
        `resume: ${units} unit(s) of the previous run were on the queue or in flight; their results are collected, none is queued twice`,
      );
  }

  /** Reads inputs again from their sources (a unit to queue again); an unreadable one gets its error row. */
  private async readAgain(items: { id: string; source: string }[]): Promise<InputItem[]> {
    const out: InputItem[] = [];
    for (const item of items) {
      const r = await readDatasetItem(item, this.d.actor.inputs, this.read, this.resolveUrl);
      if ('error' in r) this.output.writeError(errorRow(item.id, r.error));
      else out.push(r);
    }
    return out;
  }

  /** Inputs whose answers were thrown away (a refused result, a barred host): on the queue again, as a new unit. */
  private async redo(items: InputItem[]): Promise<void> {
    if (this.finished) return;
    // Their old unit no longer waits for them (it is acked once its other rows are written); a new unit does.
    for (const i of items) this.collector.moved(i.id);
    const read = await this.readAgain(items.map((i) => ({ id: i.id, source: i.source })));
    if (read.length > 0) this.publisher.publish(read);
  }

  /** An actor lied: every gateway closes it, or with `hostBarred` refuses its whole host (the job's state). */
  private bar(b: Barring): void {
    this.setState({
      ...this.state,
      barred: [...this.state.barred, { host: b.hostId, actor: b.hostBarred ? null : b.actorId, reason: b.reason }],
    });
  }

  private setState(st: QueueJobState): void {
    this.state = st;
    putState(this.d.q, st).catch((err: unknown) =>
      this.d.events.log(`could not update job ${this.d.q.names.job}'s state on NATS: ${(err as Error).message}`),
    );
  }

  /** Once a second: the pool across gateways (for the join timeout), and, draining, whether anything is still in flight. */
  private async tick(): Promise<void> {
    if (this.finished) return;
    const global = this.d.gateway.global;
    await global.refresh();
    if (global.readyCount() > 0) {
      this.noActorsSince = null;
      this.workStartedAt ??= Date.now();
    } else if (!this.draining) {
      this.noActorsSince ??= Date.now();
      if (Date.now() - this.noActorsSince > this.options.joinTimeoutMs) {
        return this.fail(noActorsError(this.d.q.names.job, this.options, global.gateways - 1));
      }
    }
    if (this.draining) await this.drainedYet();
    else this.watchProgress(global.readyCount(), global.gateways);
    this.endIfComplete();
  }

  private watchProgress(readyActors: number, gateways: number): void {
    const c = this.collector;
    const v = this.watch.check({ pending: c.pending, answeredPending: c.answeredPending, readyActors, gateways }, Date.now());
    if (!v) return;
    const limit = `--stall-timeout ${this.options.stallTimeoutMs / 1000}s`;
    if (v.kind === 'warn') return this.d.events.log(`stalled: ${v.report}; failing if nothing changes for another ${limit}`);
    const resume = `--resume --job ${this.d.q.names.job}`;
    this.fail(new TabpoolError('STALLED', `${v.report}; ${limit} passed twice: the job stops, and ${resume} continues it`));
  }

  /** Draining ends when no gateway holds a unit and every result that came is written. */
  private async drainedYet(): Promise<void> {
    const { jsm, names } = this.d.q;
    const work = await jsm.consumers.info(names.workStream, names.workConsumer);
    const results = await jsm.consumers.info(names.resultsStream, names.resultsConsumer);
    if (work.num_ack_pending > 0 || results.num_pending > 0) return;
    if (this.output.busy) return this.output.finalChecks();
    if (results.num_ack_pending === 0 && this.collector.answeredPending === 0) await this.finish();
  }

  endIfComplete(): void {
    if (this.finished) return;
    if (this.unanswered < this.window) this.feeder.wake();
    if (this.draining || !this.allRead) return;
    // Every unit answered: rows still held wait on their actor's last check.
    if (this.collector.pending > this.collector.answeredPending) return;
    if (this.output.busy) return this.output.finalChecks();
    if (this.collector.pending === 0) void this.finish().catch((err: unknown) => this.rejectEnded(err));
  }

  /** Ctrl-C: no new units (every gateway stops taking them), in-flight ones finish, then end; --resume does the rest. */
  drain(): void {
    if (this.draining || this.finished) return;
    this.draining = true;
    this.setState({ ...this.state, phase: 'draining' });
    this.feeder.wake();
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.stop();
    this.output.end(Date.now());
    // Interrupted, the job stays draining: its gateways wait for a resumed run. Done, they close their tabs and exit.
    if (!this.draining) {
      await putState(this.d.q, { ...this.state, phase: 'done' });
      await this.d.q.blobs.destroy().catch(() => undefined);
    }
    await this.d.sink.flushed().then(
      () => this.resolveEnded(),
      (err: unknown) => this.rejectEnded(err),
    );
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.stop();
    void putState(this.d.q, { ...this.state, phase: 'failed', reason: (err as Error).message })
      .catch(() => undefined)
      .finally(() => this.rejectEnded(err));
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.collector.stop();
    this.feeder.wake();
  }
}
