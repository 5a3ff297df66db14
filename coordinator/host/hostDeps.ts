/** What an actor host is made from (its settings and ports) and what it tells its owner (actorHost.ts). */
import type { ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { ActorRoster, PoolPolicy } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { Clock } from './clock.ts';
import type { HostIntake, ResultSink, SharedPool, WorkSource } from './ports.ts';
import type { RowRules } from './resultCheck.ts';
import type { StallVerdict } from './stallWatch.ts';

export interface HostSettings {
  batchSize: number | 'auto';
  /** The largest batch an actor's memory budget holds (auto). */
  maxBatch: number;
  /** The model's batch dimension when it is fixed, else null. */
  fixedBatch: number | null;
  maxTasksInFlight: number;
  /** Each actor's wasm threads, pinned (--num-cpus); null: its share of its host's cores, re-planned as actors come and go. */
  threads: number | null;
  maxRetries: number;
  /** Fixed per-batch deadline (--batch-timeout); null = adapted to each actor's measured speed. */
  batchTimeoutMs: number | null;
  stallTimeoutMs: number;
  /** Dispatch starts once this many actors are ready (here, or across the job when the pool is shared). */
  poolMin: number;
  /** What each answered row must be. */
  rules: RowRules;
}

/** What the host tells its owner. */
export interface HostEvents {
  log(line: string): void;
  /** Something happened that may end the job: an answer, a failure, a fetch, an actor gone. */
  changed(): void;
  /** Dispatch began (the pool's minimum was ready, or the owner started it short). */
  started?(): void;
  /** An admitted tab could not become an actor (its model failed to load, no WebGPU…). */
  actorFailed?(actor: PoolActor, what: string): void;
  /** A tab was refused (it can never fit, or its host is barred). */
  refused?(): void;
  /** No actor holds a slot any more. */
  emptied?(): void;
  /** The no-progress watchdog: a warning (logged here already), then a failure for the owner to act on. */
  stalled(verdict: NonNullable<StallVerdict>): void;
}

export interface HostDeps {
  settings: HostSettings;
  policy: PoolPolicy;
  /** The spec a tab loads the job by, for the EPs it is offered. */
  spec(eps: ExecutionProvider[]): JobSpec;
  /** Makes the host's work source, given what a source may ask of the host. */
  source(intake: HostIntake): WorkSource;
  sink: ResultSink;
  /** Set when other processes serve the same job (gateways on NATS). */
  shared?: (pool: ActorRoster) => SharedPool;
  events: HostEvents;
  /** How the URL fallback fetches an input no tab could (and presigns s3://). */
  read: InputReader;
  resolveUrl: UrlResolver;
  /** Inputs of the job without a row yet, where the owner knows more than the host holds (the plan's end). */
  unfinished?(): number;
  /** Work that will write rows without any actor (checks running): the watchdog counts it as progress. */
  busyElsewhere?(): boolean;
  clock?: Clock;
}
