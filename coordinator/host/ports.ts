/**
 * What an actor host plugs into: where its work comes from (a WorkSource), where its answers go
 * (a ResultSink), and, when several processes serve one job, how they share its pool (a
 * SharedPool). `tabpool run` plugs in the dataset and the job's output; a gateway plugs in units
 * taken from JetStream and the results stream; a standing pool would plug in its own scheduler.
 * The host itself (actorHost.ts) is the same in every mode.
 */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { PoolActor } from '../pool/actor.ts';

/** What a work source may ask of the host it feeds. */
export interface HostIntake {
  /** Inputs for the host to run, in order. `attempts`: failures they already count (a redelivered unit). */
  add(items: readonly InputItem[], attempts?: number): void;
  /** Inputs waiting for an actor here, and the bytes they hold. */
  readonly pendingItems: number;
  readonly pendingBytes: number;
  /** Inputs the ready actors here could take now: their free batch slots × the batch each would get. */
  freeCapacity(): number;
  /**
   * Takes back inputs that are waiting here and not out on any actor (the source gives them to
   * someone else). All or nothing: false, and nothing taken, when any of them is in flight.
   */
  withdraw(ids: ReadonlySet<string>): boolean;
  /** Whether any of these inputs is out on an actor now. */
  anyInFlight(ids: ReadonlySet<string>): boolean;
}

/** Where a host's inputs come from. The source calls `intake.add`; the host calls `wake` whenever it has room. */
export interface WorkSource {
  /** The host has room for more (an answer came, a batch was sent): read or take more if there is. */
  wake(): void;
  /**
   * True while no input is coming: the dataset is read (or the job drains), or a shared queue had
   * nothing to give at its last try. The host then runs its tail (smaller batches, spare copies).
   */
  readonly exhausted: boolean;
}

/** Where a host's answers go. */
export interface ResultSink {
  /** `actor`'s checked answers for `items`, in order (rows, or the unit's answers). */
  answered(actor: PoolActor, items: InputItem[], results: ItemResult[]): void;
  /** `item` gets an error row: it failed on every try, or no one could fetch it. */
  failed(item: InputItem, error: SerializedError): void;
}

/** The job's pool when several processes serve it (gateways on NATS): slots and budgets count them all. */
export interface SharedPool {
  /**
   * Writes this host's actors into the job's pool; returns those that no longer fit there (another
   * process took the slot first), which go back to standby. Serialized by the host.
   */
  sync(): Promise<PoolActor[]>;
  /** Ready actors across every process of the job. */
  readyCount(): number;
}
