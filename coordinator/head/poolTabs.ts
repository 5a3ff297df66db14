/**
 * The tabs of a standing pool, as the head keeps them: each joined once (its hello kept, to be
 * handed to every job it serves), idle or lent to one job on one channel, and what the head sees
 * of its work through the relay (batches out, answered, the time split).
 */
import type { HelloMessage, ExecutionProvider, ToActorJson } from '../../shared/protocol.ts';
import type { PoolTabStatus, TabState } from '../../shared/poolStatus.ts';
import type { ActorLink } from '../pool/actor.ts';
import { ZERO, type Resources } from '../pool/resources.ts';
import type { PlacedTab } from './placement.ts';
import { TabClock, type Phase } from './timeSplit.ts';

export interface PoolTab {
  id: string;
  link: ActorLink;
  hello: HelloMessage;
  joinedAt: number;
  job: string | null;
  channel: number | null;
  budget: Resources;
  /** Asked to hand back, for this job. */
  releasing: string | null;
  state: TabState;
  ep: ExecutionProvider | null;
  /** Batches out on it now (their ids, as the job numbered them). */
  inFlight: Set<number>;
  batches: number;
  items: number;
  modelFromCache: boolean | null;
  clock: TabClock;
}

export const IDLE_REASON = 'idle, waiting for work';

export function newTab(id: string, link: ActorLink, hello: HelloMessage, now: number): PoolTab {
  return {
    id,
    link,
    hello,
    joinedAt: now,
    job: null,
    channel: null,
    budget: ZERO,
    releasing: null,
    state: 'idle',
    ep: null,
    inFlight: new Set(),
    batches: 0,
    items: 0,
    modelFromCache: null,
    clock: new TabClock(now),
  };
}

function phaseOf(t: PoolTab): Phase {
  if (t.job === null) return 'idleMs';
  if (t.state === 'loading') return 'loadingMs';
  return t.inFlight.size > 0 ? 'computingMs' : 'waitingMs';
}

/** Call after any change to the tab: its clock moves to the phase it is in now. */
export function retime(t: PoolTab, now: number): void {
  t.clock.enter(phaseOf(t), now);
}

/** Back to idle, serving no job; the page is told, and lets its actor go. */
export function makeIdle(t: PoolTab, reason: string, now: number): void {
  t.job = null;
  t.channel = null;
  t.budget = ZERO;
  t.releasing = null;
  t.state = 'idle';
  t.ep = null;
  t.inFlight.clear();
  t.modelFromCache = null;
  retime(t, now);
  const msg: ToActorJson = { type: 'admission', status: 'idle', reason, job: null, serving: null };
  t.link.sendJson(msg);
}

export function placedTab(t: PoolTab): PlacedTab {
  return {
    id: t.id,
    hostId: t.hello.hostId,
    caps: t.hello.capabilities,
    declared: t.hello.declared,
    pinned: t.hello.pinnedEp,
    joinedAt: t.joinedAt,
    job: t.job,
    budget: t.budget,
    releasing: t.releasing,
  };
}

export function tabStatus(t: PoolTab, now: number): PoolTabStatus {
  return {
    id: t.id,
    host: t.hello.hostId,
    state: t.state,
    job: t.job,
    ep: t.ep,
    inFlight: t.inFlight.size,
    batches: t.batches,
    items: t.items,
    modelFromCache: t.modelFromCache,
    split: t.clock.read(now),
    joinedAt: t.joinedAt,
  };
}
