/**
 * The actor host: the one place tabs are served, whatever the mode. It owns the links to tabs
 * (hello, admission, ready, eviction, hand-back), every actor's bookkeeping, its work (the
 * workload), dispatch, deadlines, isolation of failing inputs, the URL fallback, the watchdog and
 * peer checks. Modes differ only in what they plug in (ports.ts): where work comes from, where
 * answers go, and whether the pool is shared with other processes.
 */
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import { formatError, type SerializedError } from '../../shared/errors.ts';
import { PROTOCOL_VERSION, type HelloMessage, type ReadyMessage, type ResultMessage, type ToCoordinator } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor, ActorLink } from '../pool/actor.ts';
import { Admission, refuseProtocol } from './admission.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { dueEviction } from './deadlines.ts';
import { giveUpError, readyLine } from './actorLines.ts';
import { Dispatcher } from './dispatcher.ts';
import { newHostStats, type HostStats } from './hostStats.ts';
import type { HostDeps, HostEvents, HostSettings } from './hostDeps.ts';
import { PeerChecks, type PeerAnswer } from './peerChecks.ts';
import type { WorkSource } from './ports.ts';
import { checkResult } from './resultCheck.ts';
import { ThreadPlan } from './threadPlan.ts';
import { stallWarning, StallWatch } from './stallWatch.ts';
import { UrlFallback } from './urlFallback.ts';
import { sentItems, takeRiders } from './riders.ts';
import { intakeOf, Workload, type FailureBlame } from './workload.ts';

/** An actor that failed this many batches in a row is evicted and its resources returned. */
export const MAX_ACTOR_FAILURES = 3;

export type { HostDeps, HostEvents, HostSettings };

export class ActorHost {
  readonly pool: ActorRoster;
  readonly stats: HostStats = newHostStats();
  private readonly workload: Workload;
  private readonly dispatcher: Dispatcher;
  private readonly fallback: UrlFallback;
  private readonly peers: PeerChecks;
  private readonly stall: StallWatch;
  private readonly source: WorkSource;
  private readonly clock: Clock;
  private readonly links = new Map<ActorLink, PoolActor>();
  private readonly admission: Admission;
  private readonly threads: ThreadPlan;
  private readonly timer: Timer;
  private answers = 0;
  private scheduled = false;
  private started = false;
  private draining = false;
  private stopped = false;

  constructor(private readonly d: HostDeps) {
    this.clock = d.clock ?? systemClock;
    this.pool = new ActorRoster(d.policy);
    this.threads = new ThreadPlan(this.pool, d.settings.threads, (l) => d.events.log(l));
    this.admission = new Admission(
      this.pool,
      d.shared?.(this.pool) ?? null,
      (eps, actor) => ({ ...d.spec(eps), numThreads: this.threads.planFor(actor) }),
      (l) => d.events.log(l),
    );
    this.workload = new Workload(d.settings.maxRetries);
    const s = d.settings;
    this.dispatcher = new Dispatcher(
      this.pool,
      this.workload,
      this.stats,
      { batchSize: s.batchSize, maxBatch: s.maxBatch, fixedBatch: s.fixedBatch, maxTasksInFlight: s.maxTasksInFlight },
      (l) => d.events.log(l),
      (a, room) => this.peers.ride(a, room),
    );
    const moreWork = (): boolean => this.workload.hasPending || !this.source.exhausted;
    this.peers = new PeerChecks(this.pool, this.workload, s, (a, batch, now) => this.dispatcher.send(a, batch, now), moreWork);
    this.stall = new StallWatch(s.stallTimeoutMs);
    this.fallback = new UrlFallback({
      read: d.read,
      resolveUrl: d.resolveUrl,
      add: (item) => {
        this.stats.fetchedHere++;
        this.add([item]);
      },
      failed: (item, error) => d.sink.failed(item, error),
      settled: () => d.events.changed(),
    });
    const add = (items: readonly InputItem[], attempts?: number): void => this.add(items, attempts);
    this.source = d.source(intakeOf(this.workload, add, () => this.dispatcher.freeCapacity()));
    this.timer = this.clock.setInterval(() => this.tick(), 1000);
  }

  // ------------------------------------------------------------------ what the owner sees

  /** Nothing waits here, nothing is out on an actor, no fetch is under way. */
  get idle(): boolean {
    return this.workload.empty && this.fallback.pending === 0;
  }
  get inFlight(): number {
    return this.workload.inFlightCount;
  }
  get isStarted(): boolean {
    return this.started;
  }

  /** Batches `actorId` holds (the status page). */
  heldCount(actorId: string): number {
    return this.workload.heldCount(actorId);
  }
  /** The watchdog's words while the host is stalled, else null. */
  get stalledReport(): string | null {
    return this.stall.report;
  }
  /** A peer check: `items` computed by an actor of a host other than `notHost` (null: none can). */
  peerCheck(items: InputItem[], notHost: string): Promise<PeerAnswer | null> {
    return this.started && !this.stopped ? this.peers.request(items, notHost, this.clock.now()) : Promise.resolve(null);
  }

  /** Inputs whose answers were thrown away (their actor lied): first in line again. */
  redo(items: InputItem[]): void {
    this.workload.requeue(items);
    this.schedule();
  }
  /** Dispatch begins, even below the pool's minimum (the owner's join timeout passed). */
  startWork(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.stats.workStartedAt = this.clock.wall();
    this.d.events.started?.();
    this.schedule();
  }

  /** No new batches (and no new tabs); batches out finish. */
  drain(): void {
    this.draining = true;
  }
  /** Dispatch again after a drain (a gateway whose job a resumed run took up again). */
  resume(): void {
    if (!this.draining || this.stopped) return;
    this.draining = false;
    this.schedule();
  }

  /** Every tab told why and closed; timers off. */
  shutdown(reason: string): void {
    this.stopped = true;
    this.peers.cancelAll();
    this.admission.stop();
    this.timer.cancel();
    for (const a of [...this.pool.actors.values()]) {
      a.link.sendJson({ type: 'shutdown', reason });
      a.link.close(CLOSE.jobDone, 'job done');
    }
  }
  /** Closes an actor (or, `host`, every actor of a host, whose tabs are refused from now on) that lied. */
  bar(target: { actorId: string } | { hostId: string }, reason: string): void {
    if ('hostId' in target) this.pool.barHost(target.hostId, reason);
    for (const a of [...this.pool.actors.values()]) {
      if ('hostId' in target ? a.hostId !== target.hostId : a.id !== target.actorId) continue;
      a.link.sendJson({ type: 'shutdown', reason });
      this.evict(a, CLOSE.barred, 'barred: wrong results');
    }
  }

  /** A standing pool wants this tab back: no new batch; it leaves (CLOSE.released) once its batches are in. */
  retire(link: ActorLink, reason: string): void {
    const actor = this.links.get(link);
    if (!actor || actor.retiring) return;
    this.pool.retire(actor, reason);
    this.d.events.log(`${actor.id} is handed back to the pool (${reason}) once its ${this.workload.heldCount(actor.id)} batch(es) are in`);
    this.leaveIfRetired(actor);
  }
  private leaveIfRetired(actor: PoolActor): void {
    if (actor.retiring && actor.state !== 'gone' && this.workload.heldCount(actor.id) === 0)
      this.evict(actor, CLOSE.released, 'handed back');
  }

  // ------------------------------------------------------------------ messages

  /** A validated message from a tab; `receivedAt` is when its frame arrived (monotonic ms). Throws on a protocol violation. */
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt = this.clock.now()): void {
    const actor = this.links.get(link);
    if (msg.type === 'hello') {
      if (actor) throw new Error('hello sent twice');
      return this.onHello(link, msg);
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
        this.d.events.log(`${actor.id} (host ${actor.hostId}) failed: ${formatError(msg)}`);
        this.evict(actor, CLOSE.normal, `actor failed: ${msg.code}`);
        this.d.events.actorFailed?.(actor, formatError(msg));
        return;
      case 'threads':
        return actor.runsThreads(msg.threads);
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
    if (msg.protocol !== PROTOCOL_VERSION) return refuseProtocol(link, msg.protocol);
    if (this.stopped || this.draining) {
      link.sendJson({ type: 'shutdown', reason: 'the job is finishing; no new actors are needed' });
      return link.close(CLOSE.jobDone, 'job finishing');
    }
    const { actor, admission } = this.pool.join(link, msg.hostId, msg.capabilities, msg.declared, msg.pinnedEp, this.clock.wall());
    this.links.set(link, actor);
    if (admission.status === 'rejected') queueMicrotask(() => this.d.events.refused?.());
    this.admission.welcome(actor, msg.hostId);
    if (admission.status === 'admitted') this.threads.replan(actor.hostId);
  }

  private onReady(actor: PoolActor, msg: ReadyMessage): void {
    // A repeated ready changes nothing; a ready from a tab that was never admitted is a lie.
    if (actor.state === 'ready') return;
    if (actor.state !== 'loading') throw new Error(`ready from ${actor.id}, which is ${actor.state}, not admitted`);
    if (!actor.offered.includes(msg.ep))
      throw new Error(`ready on ${msg.ep}, which ${actor.id} was not offered (${actor.offered.join(', ')})`);
    this.pool.markReady(actor, this.clock.wall());
    actor.measured(msg.probe);
    actor.runsThreads(msg.threads);
    // Until its first result, its pace is what it measured itself, or one image per warm-up run.
    const measured = msg.probe.find((f) => f.ep === msg.ep)?.imagesPerSecond ?? null;
    actor.speed.setPrior(measured ?? (msg.warmupMs > 0 ? 1000 / msg.warmupMs : null));
    this.admission.announce(this.pool.settle(actor, msg.ep));
    this.d.events.log(readyLine(actor.id, msg));
    void this.admission.sync().then(() => {
      if (!this.started && this.admission.readyCount() >= this.d.settings.poolMin) this.startWork();
      else this.schedule();
    });
  }

  private onResult(actor: PoolActor, msg: ResultMessage, receivedAt: number): void {
    const held = this.workload.lookup(msg.batchId, actor.id);
    if (held === null) throw new Error(`result for batch ${msg.batchId}, which this actor does not hold`);
    if ('late' in held) {
      // Someone else answered first; this copy is no failure, and it still tells us the actor's pace.
      actor.speed.record(held.late.batch.items.length, held.late.sentAt, receivedAt);
      return this.leaveIfRetired(actor);
    }
    const sent = sentItems(held.batch);
    const problem = checkResult(
      sent.map((i) => 'bytes' in i),
      msg.items,
      this.d.settings.rules,
    );
    if (problem) {
      // Nothing of a bad result counts: eviction sends its batch back for someone else.
      this.d.events.log(`closing ${actor.id}: bad result: ${problem}`);
      return this.evict(actor, CLOSE.badResult, `bad result: ${problem}`.slice(0, 100));
    }
    const { batch, sentAt, cancelled } = this.workload.complete(msg.batchId, actor.id)!;
    for (const other of cancelled) this.pool.actors.get(other)?.link.sendJson({ type: 'cancel', batchId: batch.id });
    actor.speed.record(sent.length, sentAt, receivedAt);
    actor.prepared(msg.timing.decodeMs, msg.timing.inferenceMs);
    const roundTrip = receivedAt - sentAt;
    this.stats.roundTrip.add(roundTrip);
    actor.answered(sent.length, roundTrip, this.clock.wall());
    this.answers++;
    const own = takeRiders(batch, actor.id, msg);
    if (batch.check) batch.check({ actorId: actor.id, results: own.items });
    else this.deliver(actor, batch.items, own);
    this.leaveIfRetired(actor);
    if (this.schedule() > 0) this.stats.dispatchLatency.add(this.clock.now() - receivedAt);
    this.d.events.changed();
  }

  /** A batch's answers, to the output: URL inputs no tab could fetch are fetched here and sent again. */
  private deliver(actor: PoolActor, items: InputItem[], msg: ResultMessage): void {
    this.stats.decodeMs += msg.timing.decodeMs;
    this.stats.decodedImages += items.length;
    this.stats.firstResultAt ??= this.clock.wall();
    const answered = this.fallback.takeFailures(items, msg.items);
    if (answered.refetched)
      this.d.events.log(
        `${actor.id} could not fetch ${answered.refetched} URL input(s) itself (CORS or network); they are fetched here instead`,
      );
    if (answered.items.length > 0) this.d.sink.answered(actor, answered.items, answered.results);
  }

  private onBatchFailed(actor: PoolActor, batchId: number, error: SerializedError): void {
    if (!this.workload.holds(batchId, actor.id)) throw new Error(`batch-failed for batch ${batchId}, which this actor does not hold`);
    this.d.events.log(`${actor.id} failed batch ${batchId}: ${formatError(error)}`);
    this.requeue(batchId, actor, error, error.code === 'DEVICE_LOST' ? 'actor' : 'input');
    // The actor's own code failing is the user's, not the tab's: it never evicts (nor bars) a tab.
    if (error.code !== 'ACTOR_ERROR') actor.failed();
    if (error.code === 'DEVICE_LOST' || actor.failures >= MAX_ACTOR_FAILURES) {
      this.evict(actor, CLOSE.evicted, error.code === 'DEVICE_LOST' ? 'GPU device lost' : `${actor.failures} failed batches in a row`);
    }
    this.leaveIfRetired(actor);
    this.schedule();
    this.d.events.changed();
  }

  // ------------------------------------------------------------------ actors coming and going

  /** `actor`'s copy of a batch failed; the batch goes back (or is split, or its lone input given up). */
  private requeue(batchId: number, actor: PoolActor, error: SerializedError, blame: FailureBlame): void {
    if (this.stopped) return;
    const outcome = this.workload.fail(batchId, actor.id, error, blame);
    if (outcome?.kind === 'give-up') this.d.sink.failed(outcome.item, giveUpError(outcome.item, error, this.d.settings.maxRetries));
  }

  /** Closes an actor's socket with `code` and takes it out of the pool; its batches run elsewhere. */
  evict(actor: PoolActor, code: CloseCode, reason: string): void {
    actor.link.close(code, reason);
    this.links.delete(actor.link);
    this.dropActor(actor, `socket closed (${code} ${reason})`);
  }

  private dropActor(actor: PoolActor, why: string): void {
    if (actor.state === 'gone') return;
    const lost = this.workload.heldBy(actor.id);
    for (const h of lost) this.requeue(h.batch.id, actor, { code: 'JOB_FAILED', message: `${actor.id} left mid-batch: ${why}` }, 'actor');
    this.workload.forget(actor.id);
    const promoted = this.pool.leave(actor);
    if (!this.stopped) this.d.events.log(`${actor.id} left: ${why}${lost.length ? `; ${lost.length} batch(es) requeued` : ''}`);
    this.admission.announce(promoted);
    this.threads.replan(actor.hostId);
    if (this.pool.active().length === 0 && !this.stopped) this.d.events.emptied?.();
    this.schedule();
    // Draining, the batch this actor held may have been the last one in flight.
    this.d.events.changed();
  }

  /** Writes this host's actors into the shared pool, when there is one (a gateway does on a timer too). */
  sync(): Promise<unknown> {
    return this.admission.sync();
  }

  // ------------------------------------------------------------------ work

  private add(items: readonly InputItem[], attempts = 0): void {
    if (attempts > 0) this.workload.requeue([...items], attempts);
    else for (const item of items) this.workload.add(item);
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
    if (!this.started || this.stopped) return 0;
    // Peer checks that cannot ride in work go out alone first; the others ride in the batches sent next.
    this.peers.run(this.clock.now());
    if (this.draining) return 0;
    const unfinished = Math.max(this.workload.remainingItems(), this.d.unfinished?.() ?? 0);
    const sent = this.dispatcher.run(this.clock.now(), this.source.exhausted, unfinished);
    this.source.wake();
    return sent;
  }

  /** Once a second: evicts an actor past its deadline or stuck loading, plans again, and watches for no progress. */
  private tick(): void {
    if (this.stopped) return;
    this.schedule();
    const e = dueEviction(this.workload.held(), this.pool.actors, this.clock.now(), this.clock.wall(), this.d.settings.batchTimeoutMs);
    if (e) {
      this.d.events.log(e.log);
      this.evict(e.actor, CLOSE.evicted, e.reason);
    }
    if (!this.started || this.draining) return;
    const verdict = this.stall.tick(this.clock.now(), {
      pending: this.workload.pendingItems,
      ready: this.pool.ready(),
      inFlight: this.workload.inFlightCount,
      answers: this.answers,
      otherWork: this.fallback.pending > 0 || (this.d.busyElsewhere?.() ?? false),
    });
    if (verdict?.kind === 'warn') this.d.events.log(stallWarning(verdict.report, this.d.settings.stallTimeoutMs));
    if (verdict) this.d.events.stalled(verdict);
  }
}
