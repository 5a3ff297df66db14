/**
 * What the verifier is given and gives back: the inputs it checks, its hooks (the reference, the
 * peer check, what to do with rows that pass and actors that lie), its figures, and the settings a
 * job's verification is made from.
 */
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { OutputRow } from '../io/outputRow.ts';

/** Another host's actor's answers for the inputs of a peer check. */
export interface PeerAnswer {
  actorId: string;
  hostId: string;
  answers: ItemResult[];
}

/** An input as the verifier keeps it: its id and whatever the reference needs to compute it. */
export interface Checkable {
  id: string;
}

/** What a lie costs: who, why, the inputs of the rows thrown away, and whether the whole host is now barred. */
export interface Caught<I extends Checkable> {
  actorId: string;
  hostId: string;
  detail: string;
  discarded: I[];
  /** A second actor of the host lied: the host is barred, not only the actor. */
  hostBarred: boolean;
}

export interface VerifierHooks<I extends Checkable, R> {
  /** The reference's answers for these inputs, in order; null for one it cannot fetch or decode. */
  reference(inputs: I[]): Promise<(R | null)[]>;
  /** What is wrong with the tab's answer for input `id` against the reference's, or null. */
  compare(id: string, answer: ItemResult, reference: R): string | null;
  /**
   * Where the actor checks answers itself (its `verify`: cheaper than computing them), used instead of
   * `reference` and `compare`: what is wrong with each answer, null when it holds, undefined where the
   * input cannot be fetched or made ready.
   */
  judge?(inputs: I[], answers: ItemResult[]): Promise<(string | null | undefined)[]>;
  /** Rows that passed (or that no check could cover, marked by `unverified`): write them. */
  release(rows: OutputRow[], unverified: boolean): void;
  caught(c: Caught<I>): void;
  /** An actor of a host other than `notHost` computes these inputs (a peer check); null when none can now. */
  peer?(inputs: I[], notHost: string): Promise<PeerAnswer | null>;
  /** What differs between two tabs' answers for input `id` (per declared column), or null. */
  comparePeers?(id: string, a: ItemResult, b: ItemResult): string | null;
  /**
   * Answers of an actor already barred, or of a barred host, that came after the bar (on a queue the bar
   * reaches the gateways a moment later): thrown away unread, their inputs computed again elsewhere.
   */
  refused(actorId: string, inputs: I[]): void;
  /** The reference itself failed (not the tab): the job cannot verify. */
  failed(err: Error): void;
  /** A check ended (the job may be done). */
  settled(): void;
  random?: () => number;
}

/** Verification's counters, declared once with the status type that shows them. */
export type { VerifyCounts } from '../../shared/status.ts';

/** Verification (--verify above 0): how often, the trusted reference, and how an answer is compared with it. */
export interface VerifySettings<R = unknown> {
  /** Fraction of each actor's batches checked after its probation (--verify). */
  rate: number;
  /** The reference's answers for these inputs (null: the coordinator cannot fetch or decode one). */
  reference(items: InputItem[]): Promise<(R | null)[]>;
  /** The actor's own check of tabs' answers, where it has one (VerifierHooks.judge). */
  judge?(items: InputItem[], answers: ItemResult[]): Promise<(string | null | undefined)[]>;
  /** What is wrong with a tab's answer against the reference's, or null. */
  compare(id: string, answer: ItemResult, reference: R): string | null;
  /** What differs between two tabs' answers (a peer check), per declared column; a difference goes to the reference. */
  comparePeers?(id: string, a: ItemResult, b: ItemResult): string | null;
  random?: () => number;
}
