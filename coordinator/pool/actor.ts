/**
 * One tab in the pool, as the coordinator keeps it: where it stands, what it reserves, what it has
 * done. The record has one owner, this class: others read its fields (readonly) and tell it what
 * happened through intent-named methods (the roster admits and parks it, the host counts its
 * answers and failures, the dispatcher its batches).
 */
import type { CloseCode } from '../../shared/closeCodes.ts';
import type { AdapterInfo, EpFigure, ExecutionProvider, ToActorJson } from '../../shared/protocol.ts';
import type { ActorState } from '../../shared/status.ts';
import type { Resources } from './resources.ts';
import { SpeedMeter } from './speedMeter.ts';

/** How the coordinator talks to one tab; the socket layer implements it (tests fake it). */
export interface ActorLink {
  sendJson(msg: ToActorJson): void;
  sendBinary(frame: Uint8Array): void;
  close(code: CloseCode, reason: string): void;
}

export class PoolActor {
  private current: ActorState = 'standby';
  private offeredEps: ExecutionProvider[] = [];
  private chosenEp: ExecutionProvider | null = null;
  private measuredEps: EpFigure[] = [];
  private lastBatch: number | null = null;
  private reserved: Resources = { gpus: 0, cpus: 0, memoryBytes: 0 };
  private why: string | null = null;
  private readyTime: number | null = null;
  private lastResultTime: number | null = null;
  private batches = 0;
  private images = 0;
  private roundTrips = 0;
  private failuresInARow = 0;
  private lastDispatch = 0;
  private handedBack = false;
  private threadsTold: number | null = null;
  private threadsRunning: number | null = null;
  private prepareLoad = 0;
  /** Its speed as the coordinator measures it. */
  readonly speed = new SpeedMeter();

  constructor(
    readonly id: string,
    readonly hostId: string,
    readonly link: ActorLink,
    /** The WebGPU adapter its page reported, or null. */
    readonly adapter: AdapterInfo | null,
    /** Wall-clock time it joined (ms since the epoch). */
    readonly joinedAt: number,
  ) {}

  get state(): ActorState {
    return this.current;
  }
  /** The EPs it was offered, best first; its budget is reserved for the first. */
  get offered(): readonly ExecutionProvider[] {
    return this.offeredEps;
  }
  /** The EP it runs on, once ready (the only one offered, or the faster it measured). */
  get ep(): ExecutionProvider | null {
    return this.chosenEp;
  }
  /** What it measured of each EP when offered more than one. */
  get probe(): readonly EpFigure[] {
    return this.measuredEps;
  }
  /** Images in the last batch it was sent. */
  get lastBatchSize(): number | null {
    return this.lastBatch;
  }
  get budget(): Resources {
    return this.reserved;
  }
  /** Why it stands by, was refused, is handed back, or left. */
  get reason(): string | null {
    return this.why;
  }
  /** Wall-clock times (ms since the epoch). */
  get readyAt(): number | null {
    return this.readyTime;
  }
  get lastResultAt(): number | null {
    return this.lastResultTime;
  }
  get batchesDone(): number {
    return this.batches;
  }
  get imagesDone(): number {
    return this.images;
  }
  /** Milliseconds from sending its finished batches to their results, measured here (a client cannot inflate it). */
  get roundTripMs(): number {
    return this.roundTrips;
  }
  /** Failed batches in a row; a result resets it. */
  get failures(): number {
    return this.failuresInARow;
  }
  /** Monotonic time of its last dispatch: ties go to the actor that waited longest. */
  get lastDispatchAt(): number {
    return this.lastDispatch;
  }
  /** Handed back to a standing pool: no new batches; it leaves once those it holds are answered. */
  get retiring(): boolean {
    return this.handedBack;
  }
  /** The wasm threads it was last told to run (null before its job reached it). */
  get threadsPlanned(): number | null {
    return this.threadsTold;
  }
  /** The wasm threads its actor runs, as the tab reported (null before it is ready). */
  get threads(): number | null {
    return this.threadsRunning;
  }
  /** Cores its preprocessing workers keep busy, from its batches' timings (smoothed). */
  get prepareCores(): number {
    return this.prepareLoad;
  }

  // The roster's: where it stands and what it reserves.

  /** The EPs it may run (best first) and what it reserves for the first. */
  offer(eps: readonly ExecutionProvider[], budget: Resources): void {
    this.offeredEps = [...eps];
    this.reserved = budget;
  }
  /** Admitted: it loads the model. */
  admitted(): void {
    this.current = 'loading';
    this.why = null;
  }
  /** Not admitted, or no longer: it waits (standby) or is refused (rejected), and why. */
  parked(state: 'standby' | 'rejected', reason: string): void {
    this.current = state;
    this.why = reason;
  }
  /** Its model is loaded: it takes batches. */
  becameReady(now: number): void {
    if (this.current !== 'loading') return;
    this.current = 'ready';
    this.readyTime = now;
  }
  /** It runs `ep`, reserving `budget` (a tab that chose wasm over WebGPU gives its GPU back). */
  runs(ep: ExecutionProvider, budget: Resources): void {
    this.chosenEp = ep;
    this.reserved = budget;
  }
  left(): void {
    this.current = 'gone';
  }

  // The host's: what it measured, answered and failed, and its hand-back.

  measured(probe: readonly EpFigure[]): void {
    this.measuredEps = [...probe];
  }
  /** A batch of `images` inputs answered, `roundTripMs` after it was sent, at wall-clock `at`. */
  answered(images: number, roundTripMs: number, at: number): void {
    this.failuresInARow = 0;
    this.batches++;
    this.images += images;
    this.roundTrips += roundTripMs;
    this.lastResultTime = at;
  }
  /** A batch failed for a reason that is the tab's (not the actor's own code). */
  failed(): void {
    this.failuresInARow++;
  }
  /** A standing pool wants it back: no new batch. */
  retire(reason: string): void {
    this.handedBack = true;
    this.why = reason;
  }

  // The thread plan's, and the tab's word on what it runs.

  /** It was told to run `n` wasm threads. */
  toldThreads(n: number): void {
    this.threadsTold = n;
  }
  /** Its actor runs `n` wasm threads (ready, or a re-plan took effect). */
  runsThreads(n: number): void {
    this.threadsRunning = n;
  }
  /**
   * A batch's timings: preparing it took `decodeMs` (wall clock, overlapping the previous batch's
   * inference), running it `inferenceMs`. The share of a core preparing keeps busy, at most one.
   */
  prepared(decodeMs: number, inferenceMs: number): void {
    const busy = Math.max(decodeMs, inferenceMs);
    if (busy <= 0) return;
    this.prepareLoad = 0.7 * this.prepareLoad + 0.3 * (decodeMs / busy);
  }

  // The dispatcher's.

  /** A batch of `size` was sent at monotonic `now`. */
  sent(size: number, now: number): void {
    this.lastDispatch = now;
    this.lastBatch = size;
  }
}

/** Images a second since it became ready, wall clock (decode overlaps inference, so stage times would undercount). */
export function actorThroughput(a: PoolActor): number | null {
  return a.readyAt !== null && a.lastResultAt !== null && a.lastResultAt > a.readyAt
    ? (a.imagesDone * 1000) / (a.lastResultAt - a.readyAt)
    : null;
}
