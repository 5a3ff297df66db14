/**
 * A gateway: the actors of the tabs it serves, fed with batches (units) taken from the job's work
 * queue on NATS JetStream, their answers put on the results stream. `tabpool gateway` is one;
 * `tabpool run --queue` runs one for its own tabs too.
 *
 * A unit is one batch for one actor. An actor lost (tab closed, crash, deadline) hands its units
 * back to the queue at once (nak), for any gateway; a gateway that dies stops keeping its units
 * alive and JetStream redelivers them after ack_wait. A unit that failed more than --max-retries
 * times is run here input by input, so a bad input gets its own error row while the rest go
 * through. The pool's size and the hosts' budgets count every gateway's actors (globalPool.ts).
 */
import { encodeBatchFrame } from '../../shared/batchFrame.ts';
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import { formatError, type SerializedError } from '../../shared/errors.ts';
import { PROTOCOL_VERSION, type ExecutionProvider, type HelloMessage, type ItemResult, type JobSpec, type ReadyMessage, type ResultMessage, type ToCoordinator } from '../../shared/protocol.ts';
import { readInput } from '../io/inputReader.ts';
import { ActorPool } from '../pool/actorPool.ts';
import type { Actor, ActorLink } from '../pool/actor.ts';
import { poolPolicy } from '../pool/epPolicy.ts';
import { batchDeadline } from '../scheduler/deadlines.ts';
import { checkResult } from '../scheduler/resultCheck.ts';
import { GlobalPool, syncPool } from './globalPool.ts';
import { watchState, type QueueJob, type QueueJobSpec, type QueueJobState } from './jobStore.ts';
import { answerOf, complete, holdUnit, type Answer, type Held } from './heldUnit.ts';
import { UnitSource } from './unitSource.ts';

interface Out {
  held: Held;
  actorId: string;
  indexes: number[];
  sentAt: number;
}

export interface GatewayDeps {
  q: QueueJob;
  spec: QueueJobSpec;
  gatewayId: string;
  /** The spec a tab loads the model by, for the EPs it is offered. */
  jobSpec(eps: ExecutionProvider[]): JobSpec;
  log(line: string): void;
}

export class Gateway {
  readonly pool: ActorPool;
  readonly global: GlobalPool;
  readonly counts = { units: 0, images: 0, givenBack: 0 };
  private readonly source: UnitSource;
  private readonly links = new Map<ActorLink, Actor>();
  private readonly out = new Map<number, Out>();
  /** Batches out per actor (the dispatch loop reads it for every ready actor). */
  private readonly outBy = new Map<string, number>();
  private readonly waiting: Held[] = [];
  private state: QueueJobState = { phase: 'running', reason: null, barred: [] };
  private nextBatch = 1;
  private ticks = 0;
  /** Promoted here, not yet confirmed in the job's pool (nor told). */
  private readonly unannounced = new Set<Actor>();
  /** Actors that have had their welcome. */
  private readonly welcomed = new WeakSet<Actor>();
  private pumping = false;
  private stopped = false;
  private syncing: Promise<unknown> = Promise.resolve();
  private stopWatch: (() => void) | null = null;
  private readonly deadlines: NodeJS.Timeout;

  constructor(private readonly d: GatewayDeps) {
    const s = d.spec;
    this.global = new GlobalPool(d.q, d.gatewayId, () => {
      this.sync();
      this.pump();
    });
    const policy = poolPolicy({ pool: s.pool, ep: s.ep, allowSoftwareGpu: s.allowSoftwareGpu, numGpus: s.numGpus, numCpus: s.numCpus, actorMemory: s.actorMemory });
    this.pool = new ActorPool({ ...policy, elsewhere: () => this.global.elsewhere() });
    this.source = new UnitSource(d.q, s.secret, s.ackWaitMs, d.log);
    this.deadlines = setInterval(() => {
      this.checkDeadlines();
      // Actors waiting for a slot: a gateway that died frees its slots only when its key expires.
      if (++this.ticks % 3 === 0 && this.pool.standby().length > 0) void this.sync().then(() => this.pump());
    }, 1000);
    this.deadlines.unref();
  }

  async start(): Promise<void> {
    await this.global.start();
    this.stopWatch = await watchState(this.d.q, (st) => this.onState(st));
  }

  /** The job's state changed (run drains, finishes, or bars a host). */
  private onState(st: QueueJobState): void {
    this.state = st;
    for (const b of st.barred) {
      if (b.actor === null) this.pool.barHost(b.host, b.reason);
      for (const a of [...this.pool.actors.values()]) {
        if (b.actor === null ? a.hostId !== b.host : b.actor !== `${this.d.gatewayId}/${a.id}`) continue;
        a.link.sendJson({ type: 'shutdown', reason: b.reason });
        this.evict(a, CLOSE.barred, 'barred: wrong results');
      }
    }
    // Draining: units taken but not started go back (a resumed run's gateways do them); started ones finish.
    if (st.phase !== 'running') this.trimWaiting();
    if (st.phase === 'done' || st.phase === 'failed') {
      for (const a of [...this.pool.actors.values()]) {
        a.link.sendJson({ type: 'shutdown', reason: st.phase === 'done' ? 'the job is done; thank you — this tab can be closed' : `the job failed: ${st.reason}` });
        a.link.close(CLOSE.jobDone, 'job done');
      }
    }
    this.pump();
  }

  get phase(): QueueJobState['phase'] {
    return this.state.phase;
  }

  /** Stops taking work and gives back what it holds. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.deadlines);
    this.stopWatch?.();
    this.source.stop();
    await this.global.stop();
  }

  // ------------------------------------------------------------------ tabs

  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt = performance.now()): void {
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
        this.d.log(`${actor.id} (host ${actor.hostId}) failed: ${formatError(msg)}`);
        return this.evict(actor, CLOSE.normal, `actor failed: ${msg.code}`);
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  onClose(link: ActorLink): void {
    const actor = this.links.get(link);
    if (!actor) return;
    this.links.delete(link);
    this.drop(actor, 'socket closed');
  }

  private onHello(link: ActorLink, msg: HelloMessage): void {
    if (msg.protocol !== PROTOCOL_VERSION) {
      link.sendJson({ type: 'shutdown', reason: `this page speaks protocol ${msg.protocol}, the gateway ${PROTOCOL_VERSION}; reload the page` });
      return link.close(CLOSE.policyViolation, 'protocol version mismatch');
    }
    if (this.state.phase !== 'running' || this.stopped) {
      link.sendJson({ type: 'shutdown', reason: 'the job is finishing; no new actors are needed' });
      return link.close(CLOSE.jobDone, 'job finishing');
    }
    const { actor, admission } = this.pool.join(link, msg.hostId, msg.capabilities, msg.declared, msg.pinnedEp, Date.now());
    this.links.set(link, actor);
    // The slot is the job's, not this gateway's: confirmed in the global pool before the tab hears.
    void this.sync().then(() => {
      this.welcomed.add(actor);
      const st = actor.state === 'loading' ? 'admitted' : actor.state === 'standby' ? 'standby' : 'rejected';
      link.sendJson({ type: 'welcome', protocol: PROTOCOL_VERSION, actorId: actor.id, status: st, reason: actor.reason, job: st === 'admitted' ? this.d.jobSpec(actor.offered) : null });
      this.d.log(`${actor.id} joined from host ${msg.hostId}: ${st}${st === 'admitted' ? ` (${actor.offered.join(' or ')})` : ` — ${actor.reason ?? admission.status}`}`);
    });
  }

  private onReady(actor: Actor, msg: ReadyMessage): void {
    if (actor.state === 'ready') return;
    if (actor.state !== 'loading' || !actor.offered.includes(msg.ep)) throw new Error(`ready on ${msg.ep} from ${actor.id}, which is ${actor.state}`);
    this.pool.markReady(actor, Date.now());
    actor.probe = msg.probe;
    for (const p of this.pool.settle(actor, msg.ep)) this.unannounced.add(p);
    this.d.log(`${actor.id} ready on ${msg.ep}`);
    void this.sync().then(() => this.pump());
  }

  /**
   * Writes this gateway's actors into the job's pool (serialized). An actor promoted here hears of
   * it only once the job's pool has it; one that no longer fits (another gateway took the slot
   * first) goes back to standby.
   */
  private sync(): Promise<unknown> {
    this.syncing = this.syncing.then(async () => {
      if (this.stopped) return;
      for (const p of this.pool.promote()) this.unannounced.add(p);
      const demoted = new Set(await syncPool(this.global, this.pool, this.d.gatewayId, this.d.spec.pool.max));
      for (const p of this.unannounced) {
        if (this.welcomed.has(p) && p.state === 'loading') p.link.sendJson({ type: 'admission', status: 'admitted', reason: null, job: this.d.jobSpec(p.offered) });
      }
      for (const a of demoted) if (this.welcomed.has(a) && !this.unannounced.has(a) && a.readyAt === null) a.link.sendJson({ type: 'admission', status: 'standby', reason: a.reason, job: null });
      this.unannounced.clear();
    });
    this.syncing.catch((err: unknown) => this.d.log(`could not update the job's pool on NATS: ${(err as Error).message}`));
    return this.syncing.catch(() => undefined);
  }

  private evict(actor: Actor, code: CloseCode, reason: string): void {
    actor.link.close(code, reason);
    this.links.delete(actor.link);
    this.drop(actor, reason);
  }

  /** An actor left: its units go back to the queue at once (or, part-answered, to another actor here). */
  private drop(actor: Actor, why: string): void {
    if (actor.state === 'gone') return;
    const lost = [...this.out.entries()].filter(([, o]) => o.actorId === actor.id);
    for (const [id, o] of lost) {
      this.takeOut(id);
      this.release(o.held, o.indexes);
    }
    for (const p of this.pool.leave(actor)) this.unannounced.add(p);
    this.outBy.delete(actor.id);
    this.trimWaiting();
    if (lost.length) this.d.log(`${actor.id} left (${why}): ${lost.length} batch(es) handed back`);
    void this.sync().then(() => this.pump());
  }

  /**
   * Inputs of `h` no actor here will answer. A unit nothing of which is answered goes back to the
   * queue at once, for any gateway; a part-answered one (isolating a bad input, or refetching a URL)
   * goes to another actor here, or back to the queue when none is left.
   */
  private release(h: Held, indexes: number[]): void {
    const partial = h.isolate || h.answers.some((a) => a !== null) || [...this.out.values()].some((o) => o.held === h);
    if (partial && indexes.length > 0 && this.pool.ready().length > 0) {
      h.pending.push(...indexes);
      if (!this.waiting.includes(h)) this.waiting.unshift(h);
      return;
    }
    const at = this.waiting.indexOf(h);
    if (at >= 0) this.waiting.splice(at, 1);
    h.gone = true;
    this.counts.givenBack++;
    this.source.giveBack(h.unit);
  }

  /** Units taken for room this gateway no longer has (an actor left, the job drains): those not started go back now. */
  private trimWaiting(): void {
    let excess = this.waiting.length - (this.state.phase === 'running' ? this.room() : 0);
    for (let i = this.waiting.length - 1; i >= 0 && excess > 0; i--) {
      const h = this.waiting[i]!;
      if (h.answers.some((a) => a) || [...this.out.values()].some((o) => o.held === h)) continue;
      this.release(h, []);
      excess--;
    }
  }

  // ------------------------------------------------------------------ work

  /** Takes units from the queue while actors here have room, and hands them out. */
  pump(): void {
    this.dispatch();
    if (this.pumping || this.stopped || this.state.phase !== 'running' || this.global.readyCount() < this.d.spec.pool.min) return;
    const room = this.room() - this.waiting.length;
    if (room <= 0) return;
    this.pumping = true;
    this.source
      .take(room, 1000)
      .then((units) => {
        for (const unit of units) this.waiting.push(holdUnit(unit, this.d.spec.maxRetries));
      })
      .catch((err: unknown) => this.d.log(`taking work from NATS failed: ${(err as Error).message}`))
      .finally(() => {
        this.pumping = false;
        // Long-polls: an empty queue answers after a second, then the gateway asks again.
        if (!this.stopped) setImmediate(() => this.pump());
      });
  }

  /** Free batch slots over this gateway's ready actors. */
  private room(): number {
    return this.pool.ready().reduce((n, a) => n + this.d.spec.maxTasksInFlight - this.heldBy(a.id), 0);
  }

  private heldBy(actorId: string): number {
    return this.outBy.get(actorId) ?? 0;
  }

  private putOut(id: number, o: Out): void {
    this.out.set(id, o);
    this.outBy.set(o.actorId, this.heldBy(o.actorId) + 1);
  }

  private takeOut(id: number): void {
    const o = this.out.get(id);
    if (!o) return;
    this.out.delete(id);
    this.outBy.set(o.actorId, this.heldBy(o.actorId) - 1);
  }

  private dispatch(): void {
    for (;;) {
      const h = this.waiting[0];
      if (!h) return;
      let best: Actor | null = null;
      let bestHeld = this.d.spec.maxTasksInFlight;
      for (const a of this.pool.ready()) if (this.heldBy(a.id) < bestHeld) [best, bestHeld] = [a, this.heldBy(a.id)];
      if (!best) return;
      // A unit runs whole on one actor; one that keeps failing, input by input.
      const indexes = h.isolate ? h.pending.splice(0, 1) : h.pending.splice(0);
      if (h.pending.length === 0) this.waiting.shift();
      const id = this.nextBatch++;
      this.putOut(id, { held: h, actorId: best.id, indexes, sentAt: performance.now() });
      best.lastDispatchAt = performance.now();
      best.link.sendBinary(encodeBatchFrame(id, indexes.map((i) => h.unit.inputs[i]!)));
    }
  }

  private onResult(actor: Actor, msg: ResultMessage, receivedAt: number): void {
    const o = this.out.get(msg.batchId);
    if (!o || o.actorId !== actor.id) throw new Error(`result for batch ${msg.batchId}, which this actor does not hold`);
    const problem = checkResult(o.indexes.map((i) => !('url' in (o.held.unit.inputs[i] as object))), msg, { numClasses: this.d.spec.tab.numClasses, topK: this.d.spec.tab.topK, logits: this.d.spec.tab.returnLogits });
    if (problem) return this.evict(actor, CLOSE.badResult, `bad result: ${problem}`.slice(0, 100));
    this.takeOut(msg.batchId);
    actor.failures = 0;
    actor.batchesDone++;
    actor.imagesDone += o.indexes.length;
    actor.roundTripMs += receivedAt - o.sentAt;
    actor.lastResultAt = Date.now();
    actor.speed.record(o.indexes.length, o.sentAt, receivedAt);
    const h = o.held;
    if (!h.gone) {
      for (const [j, i] of o.indexes.entries()) this.answer(h, i, actor, msg.items[j]!);
      this.finishIfDone(h);
    }
    this.pump();
  }

  private answer(h: Held, i: number, actor: Actor, r: ItemResult): void {
    const input = h.unit.inputs[i]!;
    if (!r.ok && r.code === 'TAB_FETCH_FAILED' && 'url' in input) {
      // The tab could not fetch it (CORS, network): this gateway fetches it and sends the bytes.
      void readInput(input.url).then((got) => {
        if ('bytes' in got) {
          h.unit.inputs[i] = got.bytes;
          this.release(h, [i]);
        } else {
          h.answers[i] = answerOf(h, i, this.d.gatewayId, actor, { ok: false, code: 'UNREADABLE_FILE', message: `neither a tab nor the gateway could fetch it: the tab said ${r.message}; the gateway got ${got.error.message}` });
          this.finishIfDone(h);
        }
        this.pump();
      });
      return;
    }
    h.answers[i] = answerOf(h, i, this.d.gatewayId, actor, r);
  }

  /** Every input answered: the unit's results go on the results stream, then the unit is acked. */
  private finishIfDone(h: Held): void {
    if (h.gone || !complete(h)) return;
    h.gone = true;
    void this.source.answer(h.unit, { v: 1, unit: h.unit.header.unit, gateway: this.d.gatewayId, answers: h.answers as Answer[] }).then((ok) => {
      if (!ok) return;
      this.counts.units++;
      this.counts.images += h.answers.length;
    });
  }

  private onBatchFailed(actor: Actor, batchId: number, error: SerializedError): void {
    const o = this.out.get(batchId);
    if (!o || o.actorId !== actor.id) throw new Error(`batch-failed for batch ${batchId}, which this actor does not hold`);
    this.takeOut(batchId);
    this.d.log(`${actor.id} failed batch ${batchId}: ${formatError(error)}`);
    const h = o.held;
    if (!h.gone) {
      if (error.code !== 'DEVICE_LOST' && h.isolate && o.indexes.length === 1) {
        const i = o.indexes[0]!;
        if (++h.failures[i]! >= 2) {
          h.answers[i] = answerOf(h, i, this.d.gatewayId, actor, { ok: false, code: 'RETRIES_EXHAUSTED', message: `failed on every try (--max-retries ${this.d.spec.maxRetries}); last error ${formatError(error)}` });
          this.finishIfDone(h);
        } else this.release(h, o.indexes);
      } else this.release(h, o.indexes);
    }
    actor.failures++;
    if (error.code === 'DEVICE_LOST' || actor.failures >= 3) this.evict(actor, CLOSE.evicted, error.code === 'DEVICE_LOST' ? 'GPU device lost' : `${actor.failures} failed batches in a row`);
    this.pump();
  }

  private checkDeadlines(): void {
    for (const o of this.out.values()) {
      const actor = this.pool.actors.get(o.actorId);
      const limit = actor ? batchDeadline(actor, o.indexes.length, this.d.spec.batchTimeoutMs) : Infinity;
      if (actor && performance.now() - o.sentAt > limit) return this.evict(actor, CLOSE.evicted, `no answer within ${(limit / 1000).toFixed(0)}s`);
    }
  }

  /** Batches each actor here holds (for the status page). */
  readonly queue = { heldCount: (actorId: string): number => this.heldBy(actorId) };
}
