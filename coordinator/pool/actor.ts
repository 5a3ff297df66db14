/** One tab in the pool, as the coordinator keeps it: where it stands, what it reserves, what it has done. */
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

export interface Actor {
  id: string;
  hostId: string;
  link: ActorLink;
  state: ActorState;
  /** The EPs it was offered, best first; its budget is reserved for the first. */
  offered: ExecutionProvider[];
  /** The EP it runs on, once ready (the only one offered, or the faster it measured). */
  ep: ExecutionProvider | null;
  /** What it measured of each EP when offered more than one. */
  probe: EpFigure[];
  /** Its speed as the coordinator measures it. */
  speed: SpeedMeter;
  /** Images in the last batch it was sent. */
  lastBatchSize: number | null;
  adapter: AdapterInfo | null;
  budget: Resources;
  /** Why it stands by, was refused, or left. */
  reason: string | null;
  /** Wall-clock times (ms since the epoch). */
  joinedAt: number;
  readyAt: number | null;
  lastResultAt: number | null;
  batchesDone: number;
  imagesDone: number;
  /** Milliseconds from sending its finished batches to their results, measured here (a client cannot inflate it). */
  roundTripMs: number;
  /** Failed batches in a row; a result resets it. */
  failures: number;
  /** Monotonic time of its last dispatch: ties go to the actor that waited longest. */
  lastDispatchAt: number;
  /** Handed back to a standing pool: no new batches; it leaves once those it holds are answered. */
  retiring: boolean;
}

export function newActor(id: string, hostId: string, link: ActorLink, now: number): Actor {
  return {
    id,
    hostId,
    link,
    state: 'standby',
    offered: [],
    ep: null,
    probe: [],
    speed: new SpeedMeter(),
    lastBatchSize: null,
    adapter: null,
    budget: { gpus: 0, cpus: 0, memoryBytes: 0 },
    reason: null,
    joinedAt: now,
    readyAt: null,
    lastResultAt: null,
    batchesDone: 0,
    imagesDone: 0,
    roundTripMs: 0,
    failures: 0,
    lastDispatchAt: 0,
    retiring: false,
  };
}

/** Images a second since it became ready, wall clock (decode overlaps inference, so stage times would undercount). */
export function actorThroughput(a: Actor): number | null {
  return a.readyAt !== null && a.lastResultAt !== null && a.lastResultAt > a.readyAt
    ? (a.imagesDone * 1000) / (a.lastResultAt - a.readyAt)
    : null;
}
