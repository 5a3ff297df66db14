/**
 * The pool: which tabs are actors, which stand by, which are refused, and why. Admission follows
 * Ray Data's ActorPoolStrategy: at most `max` actors, each reserving its budget on its host; a tab
 * that would exceed the pool waits as standby and is promoted (oldest first) when an actor leaves.
 */
import type { Capabilities, DeclaredResources, ExecutionProvider } from '../../shared/protocol.ts';
import { PoolActor, type ActorLink } from './actor.ts';
import type { PoolSize } from '../options/jobOptions.ts';
import { actorsThatFit, add, describeResources, hostCapacity, shortfalls, subtract, ZERO, type Resources } from './resources.ts';

export interface Host {
  id: string;
  capacity: Resources;
  declared: DeclaredResources;
  used: Resources;
}

export interface PoolPolicy {
  pool: PoolSize;
  /**
   * The EPs a tab may run, best first (it measures them and keeps the faster), from what it
   * reported and the EP its URL pins; null with a reason when it can run none.
   */
  offer(caps: Capabilities, pinned: ExecutionProvider | null): { eps: ExecutionProvider[] } | { eps: null; reason: string };
  budgetFor(ep: ExecutionProvider): Resources;
  allowSoftwareGpu: boolean;
  /**
   * What the job's other processes hold (gateways on NATS): their active actors, and what they
   * reserve on each host. The pool's size and the hosts' budgets count them too.
   */
  elsewhere?: () => { active: number; hostUsed(hostId: string): Resources };
}

export type AdmissionDecision = { status: 'admitted' } | { status: 'standby'; reason: string } | { status: 'rejected'; reason: string };

export class ActorRoster {
  /** Every tab that is in the pool now, in any state but gone. */
  readonly actors = new Map<string, PoolActor>();
  /** Actors that left after doing work, for the summary. */
  readonly departed: PoolActor[] = [];
  readonly hosts = new Map<string, Host>();
  /** Hosts barred from the job (two actors of theirs lied), with why. */
  private readonly barredHosts = new Map<string, string>();
  private seq = 0;
  private readies = 0;
  /**
   * Ready actors taking batches (not handed back), and those handed back that are still here: kept as
   * states change, so counting them costs nothing.
   */
  private readonly taking = new Set<PoolActor>();
  private readonly handingBack = new Set<PoolActor>();

  constructor(private readonly policy: PoolPolicy) {}

  /** Bars a host from the job: its tabs are refused from now on (the caller closes the ones here). */
  barHost(hostId: string, reason: string): void {
    if (!this.barredHosts.has(hostId)) this.barredHosts.set(hostId, reason);
  }

  isBarred(hostId: string): boolean {
    return this.barredHosts.has(hostId);
  }

  /** The barred hosts, with why. */
  barred(): { host: string; reason: string }[] {
    return [...this.barredHosts].map(([host, reason]) => ({ host, reason }));
  }

  /** Actors holding a pool slot (loading, ready). */
  active(): PoolActor[] {
    return [...this.actors.values()].filter((a) => a.state === 'loading' || a.state === 'ready');
  }

  ready(): PoolActor[] {
    return [...this.actors.values()].filter((a) => a.state === 'ready');
  }

  standby(): PoolActor[] {
    return [...this.actors.values()].filter((a) => a.state === 'standby').sort((a, b) => a.joinedAt - b.joinedAt);
  }

  rejected(): PoolActor[] {
    return [...this.actors.values()].filter((a) => a.state === 'rejected');
  }

  /** Registers a tab that said hello and decides its admission. */
  join(
    link: ActorLink,
    hostId: string,
    caps: Capabilities,
    declared: DeclaredResources,
    pinned: ExecutionProvider | null,
    now: number,
  ): { actor: PoolActor; admission: AdmissionDecision } {
    const host = this.hostFor(hostId, caps, declared);
    const id = `actor-${++this.seq}`;
    const barred = this.barredHosts.get(host.id);
    const offer = barred ? { eps: null, reason: `host ${host.id} is barred from this job: ${barred}` } : this.policy.offer(caps, pinned);
    const actor = new PoolActor(id, host.id, link, caps.webgpu, now);
    this.actors.set(id, actor);
    if (offer.eps === null) {
      this.apply(actor, { status: 'rejected', reason: offer.reason });
      return { actor, admission: { status: 'rejected', reason: offer.reason } };
    }
    const admission = this.admit(actor, host, offer.eps);
    return { actor, admission };
  }

  /**
   * Decides and applies `actor`'s admission with the EPs it may run. A tab offered WebGPU and wasm
   * whose host has no GPU left runs wasm rather than wait for a GPU.
   */
  private admit(actor: PoolActor, host: Host, eps: readonly ExecutionProvider[]): AdmissionDecision {
    actor.offer(eps, this.policy.budgetFor(eps[0]!));
    let admission = this.decide(actor.budget, host);
    if (admission.status !== 'admitted' && eps.length > 1 && eps.includes('wasm')) {
      const wasm = this.policy.budgetFor('wasm');
      const asWasm = this.decide(wasm, host);
      if (asWasm.status === 'admitted') {
        actor.offer(['wasm'], wasm);
        admission = asWasm;
      }
    }
    this.apply(actor, admission);
    return admission;
  }

  /**
   * The EP a ready actor chose (it measured its offer). Its reservation follows the EP: a tab that
   * chose wasm over WebGPU gives its GPU back. Returns standby tabs admitted thanks to that.
   */
  settle(actor: PoolActor, ep: ExecutionProvider): PoolActor[] {
    const budget = this.policy.budgetFor(ep);
    if (actor.state !== 'loading' && actor.state !== 'ready') {
      actor.runs(ep, actor.budget);
      return [];
    }
    const host = this.hosts.get(actor.hostId)!;
    host.used = add(subtract(host.used, actor.budget), budget);
    actor.runs(ep, budget);
    return this.promote();
  }

  private hostFor(hostId: string, caps: Capabilities, declared: DeclaredResources): Host {
    const capacity = hostCapacity(caps, declared, this.policy.allowSoftwareGpu);
    let host = this.hosts.get(hostId);
    if (!host) {
      host = { id: hostId, capacity, declared, used: ZERO };
      this.hosts.set(hostId, host);
    } else if (Object.keys(declared).length > 0 && host.used.gpus === 0 && host.used.cpus === 0 && host.used.memoryBytes === 0) {
      // A new declaration wins only while nothing is reserved: shrinking a host under its running
      // actors would over-commit it.
      host.capacity = capacity;
      host.declared = declared;
    }
    return host;
  }

  private decide(budget: Resources, host: Host): AdmissionDecision {
    const fit = actorsThatFit(host.capacity, budget);
    if (fit < 1) {
      return {
        status: 'rejected',
        reason:
          `host ${host.id} can never fit one actor: each needs ${describeResources(budget)}, the host has ` +
          `${describeResources(host.capacity)} (${shortfalls(host.capacity, budget).join('; ')}). Declare ` +
          `more in the page URL (e.g. &memory=16GiB&gpus=1) or lower the job's budget.`,
      };
    }
    const away = this.policy.elsewhere?.();
    const short = shortfalls(subtract(subtract(host.capacity, host.used), away?.hostUsed(host.id) ?? ZERO), budget);
    if (short.length > 0) {
      return {
        status: 'standby',
        reason:
          `host ${host.id} is full: ${short.join('; ')} (it fits ${fit === Infinity ? 'any number of' : fit} ` +
          `actor${fit === 1 ? '' : 's'} of ${describeResources(budget)}); waiting for an actor on this host to leave`,
      };
    }
    const active = this.active().length + (away?.active ?? 0);
    if (active >= this.policy.pool.max) {
      return {
        status: 'standby',
        reason: `the pool is full (${active} of max ${this.policy.pool.max} actors); waiting for an actor to leave`,
      };
    }
    return { status: 'admitted' };
  }

  private apply(actor: PoolActor, admission: AdmissionDecision): void {
    if (admission.status === 'admitted') {
      const host = this.hosts.get(actor.hostId)!;
      host.used = add(host.used, actor.budget);
      actor.admitted();
    } else {
      actor.parked(admission.status, admission.reason);
    }
  }

  /** An admitted actor goes back to standby (another process took the slot first); its reservation is returned. */
  demote(actor: PoolActor, reason: string): void {
    if (actor.state !== 'loading' && actor.state !== 'ready') return;
    const host = this.hosts.get(actor.hostId)!;
    host.used = subtract(host.used, actor.budget);
    actor.parked('standby', reason);
    this.taking.delete(actor);
  }

  markReady(actor: PoolActor, now: number): void {
    actor.becameReady(now);
    this.readies++;
    if (actor.state === 'ready' && !actor.retiring) this.taking.add(actor);
  }

  /** A standing pool wants `actor` back: no new batch for it. */
  retire(actor: PoolActor, reason: string): void {
    actor.retire(reason);
    this.taking.delete(actor);
    this.handingBack.add(actor);
  }

  /** Ready actors that take batches (handed-back ones excluded), without a scan. */
  get takingCount(): number {
    return this.taking.size;
  }

  /** Actors handed back that have not left yet (they may still hold batches). */
  get handedBack(): ReadonlySet<PoolActor> {
    return this.handingBack;
  }

  /** Counts actors becoming ready: a reader that saw it last knows whether any became ready since. */
  get readyEpoch(): number {
    return this.readies;
  }

  /**
   * Removes an actor (tab closed, evicted, failed to load), returns its resources, and promotes
   * standby tabs that now fit, oldest first. Returns the promoted actors.
   */
  leave(actor: PoolActor): PoolActor[] {
    if (actor.state === 'gone') return [];
    const held = actor.state === 'loading' || actor.state === 'ready';
    actor.left();
    this.taking.delete(actor);
    this.handingBack.delete(actor);
    this.actors.delete(actor.id);
    if (actor.batchesDone > 0) this.departed.push(actor);
    if (held) {
      const host = this.hosts.get(actor.hostId)!;
      host.used = subtract(host.used, actor.budget);
    }
    if ([...this.actors.values()].every((a) => a.hostId !== actor.hostId)) {
      const host = this.hosts.get(actor.hostId);
      if (host && host.used.gpus <= 1e-9 && host.used.cpus <= 1e-9) this.hosts.delete(actor.hostId);
    }
    return this.promote();
  }

  /** Re-examines standby tabs, oldest first; returns the ones admitted now. */
  promote(): PoolActor[] {
    const promoted: PoolActor[] = [];
    for (const a of this.standby()) {
      const before = a.reason;
      const admission = this.admit(a, this.hosts.get(a.hostId)!, a.offered);
      if (admission.status === 'admitted') promoted.push(a);
      else if (admission.status === 'standby' && admission.reason === before) continue;
    }
    return promoted;
  }
}
