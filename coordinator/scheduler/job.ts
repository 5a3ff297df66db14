/**
 * One inference job, end to end: the dataset streamed into the queue, batches handed to the
 * pool's ready actors, results checked and written as rows, failures requeued. The job ends when
 * every input has exactly one row.
 *
 * This file routes messages and owns the lifecycle (start, drain, finish, fail); the parts live
 * beside it: the queue (batchQueue.ts), dispatch (dispatcher.ts), result checks (resultCheck.ts),
 * deadlines (deadlines.ts) and start-up (joinWatch.ts).
 */
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import { formatError, TabpoolError, type SerializedError } from '../../shared/errors.ts';
import { PROTOCOL_VERSION, type HelloMessage, type ReadyMessage, type ResultMessage, type ToCoordinator } from '../../shared/protocol.ts';
import { DatasetFeeder } from '../io/datasetFeeder.ts';
import type { InputItem } from '../io/inputItem.ts';
import { readInput } from '../io/inputReader.ts';
import { errorRow } from '../io/outputRow.ts';
import type { JobOptions } from '../jobOptions.ts';
import { ActorPool } from '../pool/actorPool.ts';
import type { Actor, ActorLink } from '../pool/actor.ts';
import { poolPolicy } from '../pool/epPolicy.ts';
import { BatchQueue, type FailureBlame } from './batchQueue.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import type { JobDeps } from './jobDeps.ts';
import { dueEviction } from './deadlines.ts';
import { Dispatcher } from './dispatcher.ts';
import { JoinWatch } from './joinWatch.ts';
import { UrlFallback } from './urlFallback.ts';
import { JobOutput, type Barring } from './jobOutput.ts';
import { newJobStats, type JobStats } from './jobStats.ts';
import { checkResult } from './resultCheck.ts';
import { StallWatch } from './stallWatch.ts';

/** An actor that failed this many batches in a row is evicted and its resources returned. */
const MAX_ACTOR_FAILURES = 3;
/** Read ahead at most this many bytes of inputs, whatever the pool's size. */
const MAX_READ_AHEAD_BYTES = 256 * 2 ** 20;

export class Job {
  readonly pool: ActorPool;
  readonly queue: BatchQueue;
  readonly stats: JobStats;
  readonly options: JobOptions;
  readonly done: Promise<void>;
  /** Resolves once the whole dataset has been read into the queue (or the job stopped reading). */
  readonly allReadIn: Promise<void>;
  private resolveAllRead!: () => void;
  private readonly links = new Map<ActorLink, Actor>();
  private readonly feeder: DatasetFeeder;
  private readonly dispatcher: Dispatcher;
  private readonly joinWatch: JoinWatch;
  /** URL inputs no tab could fetch, fetched here instead. */
  readonly urlFallback: UrlFallback;
  /** Rows, written or held for verification. */
  readonly output: JobOutput;
  private readonly clock: Clock;
  private readonly readAheadItems: number;
  private allRead = false;
  private started = false;
  private draining = false;
  private finished = false;
  private scheduled = false;
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;
  private readonly deadlineTimer: Timer;
  /** The no-progress watchdog (--stall-timeout). */
  readonly stall: StallWatch;
  /** What the job tells (log lines, progress). */
  readonly events: JobDeps['events'];

  constructor(private readonly deps: JobDeps) {
    this.events = deps.events;
    const o = deps.options;
    this.options = o;
    this.clock = deps.clock ?? systemClock;
    this.pool = new ActorPool(poolPolicy({ ...o, actorMemory: deps.actorMemory }));
    this.queue = new BatchQueue(o.maxRetries);
    this.stats = newJobStats(this.clock.wall(), deps.sink.done.size, deps.skippedErrors ?? 0);
    const ports = {
      bar: (b: Barring) => this.bar(b),
      redo: (items: InputItem[]) => {
        this.queue.requeue(items);
        this.schedule();
      },
    };
    this.output = new JobOutput(
      deps.sink,
      this.stats,
      deps.model.labels,
      o.out,
      { progress: (stats) => deps.events.progress(stats), written: () => this.checkDone(), fail: (err) => this.fail(err), log: (line) => deps.events.log(line) },
      deps.verify && { settings: deps.verify, ports },
    );
    this.dispatcher = new Dispatcher(this.pool, this.queue, this.stats, { batchSize: o.batchSize, maxBatch: deps.maxBatch, fixedBatch: deps.model.fixedBatch, maxTasksInFlight: o.maxTasksInFlight }, (line) => deps.events.log(line));
    this.readAheadItems = Math.max(4, o.pool.max * o.maxTasksInFlight * 2) * (o.batchSize === 'auto' ? deps.maxBatch : o.batchSize);
    this.feeder = new DatasetFeeder(
      deps.dataset,
      {
        skip: deps.sink.done,
        wantsMore: () => this.queue.pendingItems < this.readAheadItems && this.queue.pendingBytes < MAX_READ_AHEAD_BYTES,
        add: (item) => this.enqueue(item),
        writeErrors: (rows) => this.output.writeUnsent(rows),
        stopped: () => this.finished || this.draining,
        log: (line) => deps.events.log(line),
      },
      deps.readInput,
      deps.resolveUrl,
    );
    this.allReadIn = new Promise((resolve) => (this.resolveAllRead = resolve));
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.stall = new StallWatch(o.stallTimeoutMs);
    this.deadlineTimer = this.clock.setInterval(() => this.checkDeadlines(), 1000);
    this.urlFallback = new UrlFallback({
      read: deps.readInput ?? readInput,
      resolveUrl: deps.resolveUrl ?? (async (source) => source),
      add: (item) => this.enqueue(item),
      writeError: (row) => this.output.writeError(row),
      settled: () => this.checkDone(),
    });
    this.joinWatch = new JoinWatch(this.clock, {
      ...{ pool: this.pool, joinTimeoutMs: o.joinTimeoutMs, launch: o.launch, minimum: o.pool.min, log: (line: string) => deps.events.log(line) },
      started: () => this.started,
      finished: () => this.finished,
      barred: () => this.output.barred.map((b) => b.reason),
      startShort: () => this.startWork(),
      fail: (err) => this.fail(err),
    });
  }

  /** Starts reading the dataset and the join timer; `total` is the dataset's size (resumed rows included). */
  start(total: number | null): void {
    this.stats.total = total === null ? null : total - this.stats.skipped;
    void this.feed().catch((err: unknown) => this.fail(err));
    this.joinWatch.arm();
  }

  get interrupted(): boolean {
    return this.draining;
  }
  get isFinished(): boolean {
    return this.finished;
  }

  // ------------------------------------------------------------------ messages

  /** A validated message from a tab; `receivedAt` is when its frame arrived (monotonic ms). Throws on a protocol violation. */
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt = this.clock.now()): void {
    const actor = this.links.get(link);
    if (msg.type === 'hello') {
      if (actor) throw new Error('hello sent twice');
      this.onHello(link, msg);
      return;
    }
    if (!actor) throw new Error(`${msg.type} before hello`);
    switch (msg.type) {
      case 'ready':
        return this.onReady(actor, msg);
      case 'result':
        return this.onResult(actor, msg, receivedAt);
      case 'batch-failed':
        return this.onBatchFailed(actor, msg.batchId, { code: msg.code, message: msg.message });
      case 'actor-error':
        this.deps.events.log(`${actor.id} (host ${actor.hostId}) failed: ${formatError(msg)}`);
        this.evict(actor, CLOSE.normal, `actor failed: ${msg.code}`);
        this.joinWatch.recordFailure(actor, formatError(msg));
        return;
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  /** A tab's socket closed (or was cut). */
  onClose(link: ActorLink, code: number, reason: string): void {
    const actor = this.links.get(link);
    if (!actor) return;
    this.links.delete(link);
    this.dropActor(actor, `socket closed (${code}${reason ? ` ${reason}` : ''})`);
  }

  private onHello(link: ActorLink, msg: HelloMessage): void {
    if (msg.protocol !== PROTOCOL_VERSION) {
      link.sendJson({ type: 'shutdown', reason: `this page speaks protocol ${msg.protocol}, the coordinator ${PROTOCOL_VERSION}; reload the page` });
      link.close(CLOSE.policyViolation, 'protocol version mismatch');
      return;
    }
    if (this.finished || this.draining) {
      link.sendJson({ type: 'shutdown', reason: 'the job is finishing; no new actors are needed' });
      link.close(CLOSE.jobDone, 'job finishing');
      return;
    }
    const { actor, admission } = this.pool.join(link, msg.hostId, msg.capabilities, msg.declared, msg.pinnedEp, this.clock.wall());
    this.links.set(link, actor);
    if (admission.status === 'rejected') queueMicrotask(() => this.joinWatch.failIfNoneCanJoin());
    const job = admission.status === 'admitted' ? this.deps.model.spec(actor.offered) : null;
    link.sendJson({ type: 'welcome', protocol: PROTOCOL_VERSION, actorId: actor.id, status: admission.status, reason: admission.status === 'admitted' ? null : admission.reason, job });
    this.deps.events.log(`${actor.id} joined from host ${msg.hostId}: ${admission.status}${admission.status === 'admitted' ? ` (${actor.offered.join(' or ')})` : ` — ${admission.reason}`}`);
  }

  private onReady(actor: Actor, msg: ReadyMessage): void {
    // A repeated ready changes nothing; a ready from a tab that was never admitted is a lie.
    if (actor.state === 'ready') return;
    if (actor.state !== 'loading') throw new Error(`ready from ${actor.id}, which is ${actor.state}, not admitted`);
    if (!actor.offered.includes(msg.ep)) throw new Error(`ready on ${msg.ep}, which ${actor.id} was not offered (${actor.offered.join(', ')})`);
    this.pool.markReady(actor, this.clock.wall());
    actor.probe = msg.probe;
    // Until its first result, its pace is what it measured itself, or one image per warm-up run.
    const measured = msg.probe.find((f) => f.ep === msg.ep)?.imagesPerSecond ?? null;
    actor.speed.setPrior(measured ?? (msg.warmupMs > 0 ? 1000 / msg.warmupMs : null));
    for (const p of this.pool.settle(actor, msg.ep)) this.admitPromoted(p);
    const figures = msg.probe.length ? ` (measured ${msg.probe.map((f) => `${f.ep} ${f.imagesPerSecond !== null ? `${f.imagesPerSecond.toFixed(1)} img/s` : f.note}`).join(', ')})` : '';
    this.deps.events.log(`${actor.id} ready on ${msg.ep}${figures}: model ${msg.modelFromCache ? 'from cache' : 'downloaded'}, loaded in ${(msg.loadMs / 1000).toFixed(1)}s, warm-up ${(msg.warmupMs / 1000).toFixed(1)}s`);
    if (!this.started && this.pool.ready().length >= this.options.pool.min) this.startWork();
    else this.schedule();
  }

  private admitPromoted(p: Actor): void {
    p.link.sendJson({ type: 'admission', status: 'admitted', reason: null, job: this.deps.model.spec(p.offered) });
    this.deps.events.log(`${p.id} promoted from standby`);
  }

  private onResult(actor: Actor, msg: ResultMessage, receivedAt: number): void {
    const held = this.queue.lookup(msg.batchId, actor.id);
    if (held === null) throw new Error(`result for batch ${msg.batchId}, which this actor does not hold`);
    if ('late' in held) {
      // Someone else answered first; this copy is no failure, and it still tells us the actor's pace.
      actor.speed.record(held.late.batch.items.length, held.late.sentAt, receivedAt);
      return;
    }
    const problem = checkResult(held.batch.items.map((i) => 'bytes' in i), msg, { numClasses: this.deps.model.numClasses, topK: this.options.topK, logits: this.options.logits });
    if (problem) {
      // Nothing of a bad result counts: eviction sends its batch back for someone else.
      this.deps.events.log(`closing ${actor.id}: bad result: ${problem}`);
      this.evict(actor, CLOSE.badResult, `bad result: ${problem}`.slice(0, 100));
      return;
    }
    const { batch, sentAt, cancelled } = this.queue.complete(msg.batchId, actor.id)!;
    for (const other of cancelled) this.pool.actors.get(other)?.link.sendJson({ type: 'cancel', batchId: batch.id });
    actor.speed.record(batch.items.length, sentAt, receivedAt);
    const roundTrip = receivedAt - sentAt;
    this.stats.roundTrip.add(roundTrip);
    actor.failures = 0;
    actor.batchesDone++;
    actor.imagesDone += batch.items.length;
    actor.roundTripMs += roundTrip;
    actor.lastResultAt = this.clock.wall();
    this.stats.decodeMs += msg.timing.decodeMs;
    this.stats.decodedImages += batch.items.length;
    this.stats.firstPredictionAt ??= this.clock.wall();
    const answered = this.urlFallback.takeFailures(batch.items, msg.items);
    if (answered.refetched) this.deps.events.log(`${actor.id} could not fetch ${answered.refetched} URL input(s) itself (CORS or network); the coordinator fetches them instead`);
    this.output.answer(actor.id, actor.hostId, answered.items, answered.results);
    if (this.schedule() > 0) this.stats.dispatchLatency.add(this.clock.now() - receivedAt);
    // Rows held for verification wrote nothing: the last answer must itself look for the end.
    this.checkDone();
  }

  private onBatchFailed(actor: Actor, batchId: number, error: SerializedError): void {
    if (!this.queue.holds(batchId, actor.id)) throw new Error(`batch-failed for batch ${batchId}, which this actor does not hold`);
    this.deps.events.log(`${actor.id} failed batch ${batchId}: ${formatError(error)}`);
    this.requeue(batchId, actor, error, error.code === 'DEVICE_LOST' ? 'actor' : 'input');
    actor.failures++;
    if (error.code === 'DEVICE_LOST' || actor.failures >= MAX_ACTOR_FAILURES) {
      this.evict(actor, CLOSE.evicted, error.code === 'DEVICE_LOST' ? 'GPU device lost' : `${actor.failures} failed batches in a row`);
    }
    this.schedule();
    this.checkDone();
  }

  // ------------------------------------------------------------------ failures

  /** `actor`'s copy of a batch failed; the batch goes back (or is split, or its lone input given up). */
  private requeue(batchId: number, actor: Actor, error: SerializedError, blame: FailureBlame): void {
    if (this.finished) return;
    const outcome = this.queue.fail(batchId, actor.id, error, blame);
    if (outcome?.kind === 'give-up') {
      const { item } = outcome;
      this.output.writeError(errorRow(item.id, { code: 'RETRIES_EXHAUSTED', message: `${item.id}: failed on every try (--max-retries ${this.options.maxRetries}); last error ${formatError(error)}` }));
    }
  }

  /**
   * An actor lied (the output's verifier caught it): it is told why and closed, or with `hostBarred`
   * every actor of its host, whose tabs are refused from now on.
   */
  private bar(b: Barring): void {
    if (b.hostBarred) this.pool.barHost(b.hostId, b.reason);
    for (const a of [...this.pool.actors.values()]) {
      if (a.id !== b.actorId && !(b.hostBarred && a.hostId === b.hostId)) continue;
      a.link.sendJson({ type: 'shutdown', reason: b.reason });
      this.evict(a, CLOSE.barred, 'barred: wrong results');
    }
  }

  /** Closes an actor's socket with `code` and takes it out of the pool; its batches run elsewhere. */
  evict(actor: Actor, code: CloseCode, reason: string): void {
    actor.link.close(code, reason);
    this.dropActor(actor, `socket closed (${code} ${reason})`);
  }

  private dropActor(actor: Actor, why: string): void {
    if (actor.state === 'gone') return;
    const lost = this.queue.heldBy(actor.id);
    for (const h of lost) this.requeue(h.batch.id, actor, { code: 'JOB_FAILED', message: `${actor.id} left mid-batch: ${why}` }, 'actor');
    this.queue.forget(actor.id);
    const promoted = this.pool.leave(actor);
    if (!this.finished) this.deps.events.log(`${actor.id} left: ${why}${lost.length ? `; ${lost.length} batch(es) requeued` : ''}`);
    for (const p of promoted) this.admitPromoted(p);
    if (this.pool.active().length === 0 && !this.finished) this.joinWatch.arm();
    this.schedule();
    // Draining, the batch this actor held may have been the last one in flight.
    this.checkDone();
  }

  /** Once a second: evicts an actor past its deadline or stuck loading, and plans again (time makes a slow holder's batch worth a copy). */
  checkDeadlines(): void {
    if (this.finished) return;
    this.schedule();
    const e = dueEviction(this.queue.held(), this.pool.actors, this.clock.now(), this.clock.wall(), this.options.batchTimeoutMs);
    if (e) {
      this.events.log(e.log);
      this.evict(e.actor, CLOSE.evicted, e.reason);
    }
    this.checkStall();
  }

  /** The watchdog: inputs waiting, actors ready, nothing in flight and no row for a period says why; two fail the job. */
  private checkStall(): void {
    if (!this.started || this.draining) return;
    const verdict = this.stall.tick(this.clock.now(), {
      pending: this.queue.pendingItems,
      ready: this.pool.ready(),
      inFlight: this.queue.inFlightCount,
      rowsWritten: this.stats.done,
      otherWork: this.urlFallback.pending > 0 || this.output.checking > 0,
    });
    if (verdict?.kind === 'warn') this.events.log(`stalled: ${verdict.report}; the job fails with STALLED if this lasts another --stall-timeout ${this.options.stallTimeoutMs / 1000}s`);
    if (verdict?.kind === 'fail') {
      this.fail(new TabpoolError('STALLED', `${verdict.report}. --stall-timeout ${this.options.stallTimeoutMs / 1000}s passed twice; --resume continues the job`));
    }
  }

  // ------------------------------------------------------------------ start-up

  private startWork(): void {
    this.started = true;
    this.stats.workStartedAt = this.clock.wall();
    this.deps.events.progress(this.stats);
    this.schedule();
  }

  // ------------------------------------------------------------------ dispatch and rows

  private async feed(): Promise<void> {
    await this.feeder.run();
    this.allRead = true;
    this.resolveAllRead();
    this.schedule();
    this.checkDone();
  }

  private enqueue(item: InputItem): void {
    this.queue.add(item);
    this.scheduleSoon();
  }

  /** Inputs arrive in bursts of reads: one dispatch pass for the burst, not one per input. */
  private scheduleSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.schedule();
    });
  }

  /** Gives pending inputs to ready actors; returns the batches sent. */
  schedule(): number {
    if (!this.started || this.finished || this.draining) return 0;
    const unfinished = this.stats.total !== null ? Math.max(this.queue.remainingItems(), this.stats.total - this.output.answered) : this.queue.remainingItems();
    const sent = this.dispatcher.run(this.clock.now(), this.allRead, unfinished);
    if (this.queue.pendingItems < this.readAheadItems) this.feeder.wake();
    return sent;
  }

  // ------------------------------------------------------------------ the end

  /** Ends the job once every input has its row (or, draining, once nothing is in flight). */
  checkDone(): void {
    if (this.finished || !this.allRead) return;
    // Draining: inputs not yet sent stay unsent (a --resume does them); only in-flight ones finish.
    if (this.draining ? this.queue.inFlightCount > 0 : !this.queue.empty || this.urlFallback.pending > 0) return;
    // Every answer is in; rows still held wait on their actor's last check.
    if (this.output.busy) return this.output.finalChecks();
    this.finish();
  }

  /** Ctrl-C: stop reading, let in-flight batches finish, then end. */
  drain(): void {
    if (this.draining || this.finished) return;
    this.draining = true;
    this.allRead = true;
    this.feeder.wake();
    this.checkDone();
  }

  private finish(): void {
    if (this.finished) return;
    this.stop(this.draining ? 'the job was interrupted; its output can be resumed with --resume' : 'the job is done; thank you — this tab can be closed');
    this.stats.finishedAt = this.clock.wall();
    // Resolve once every row is on disk, so whoever awaits `done` reads a complete output.
    this.deps.sink.flushed().then(() => this.resolveDone(), (err: unknown) => this.rejectDone(err));
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.stop(`the job failed: ${(err as Error).message}`);
    this.rejectDone(err);
  }

  /** No more work: timers off, every tab told why and closed. */
  private stop(reason: string): void {
    this.finished = true;
    this.deadlineTimer.cancel();
    this.joinWatch.cancel();
    for (const a of [...this.pool.actors.values()]) {
      a.link.sendJson({ type: 'shutdown', reason });
      a.link.close(CLOSE.jobDone, 'job done');
    }
  }
}
