/**
 * Trust no tab. Every actor's rows are held, not written, until a check of that actor passes: the
 * coordinator computes a random sample of the actor's inputs with its own model (the trusted
 * reference) and compares. An actor cannot tell which of its batches are checked: nothing it is
 * sent or asked differs.
 *
 * - Probation: an actor's first PROBATION batches are always checked.
 * - Then each batch is checked with probability `rate` (--verify), and always once an actor holds
 *   HELD_LIMIT unverified rows, so no more than about that many rows ride on one check.
 * - A check compares up to SAMPLE inputs (all of them with --verify 1), drawn at random from the
 *   batch. An input the reference cannot fetch or decode is not compared; the check draws others
 *   instead, from the batch and then from the actor's earlier held batches. A check that compared
 *   nothing is no pass: the rows stay held for the next check, and rows no check could ever cover
 *   are written at the end as unverified (counted, and their ids logged).
 * - When a check passes, the actor's held rows up to that batch are written. When it fails, the
 *   actor lied: its held rows are discarded (and recomputed elsewhere) and it is barred. Its
 *   host's other actors go back on probation (their held rows wait for fresh checks), and a
 *   second liar on the same host bars the host.
 * - At the job's end each actor's last held batch is checked, so honest rows are all written.
 *
 * So a tab that lies on every batch gets nothing into the output, and one that lies on a fraction
 * q of its batches is caught after about 1/q checks, having had on average at most (1 − q) ×
 * HELD_LIMIT rows released (README, "Trust").
 */
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { OutputRow } from '../io/outputRow.ts';

export const PROBATION = 3;
export const HELD_LIMIT = 256;
export const SAMPLE = 4;
export const DEFAULT_RATE = 0.05;

/** An input as the verifier keeps it: its id and whatever the reference needs to compute it. */
export interface Checkable {
  id: string;
}

interface HeldBatch<I extends Checkable> {
  seq: number;
  inputs: I[];
  answers: ItemResult[];
  rows: OutputRow[];
}

interface ActorTrust<I extends Checkable> {
  hostId: string;
  passed: number;
  batches: number;
  held: HeldBatch<I>[];
  heldRows: number;
  /** The highest batch seq a check is running for. */
  checking: number;
  /** Checks of batches up to this seq started before the actor went back on probation: they release nothing. */
  requalifyAfter: number;
  /** The highest batch seq a check compared nothing for (its rows wait for a later check, or the end). */
  inconclusiveAt: number;
  liar: boolean;
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
  /** Rows that passed (or that no check could cover, marked by `unverified`): write them. */
  release(rows: OutputRow[], unverified: boolean): void;
  caught(c: Caught<I>): void;
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

export interface VerifyStats {
  batchesChecked: number;
  inputsChecked: number;
  disagreements: number;
  /** Checks that could compare no input (the reference decodes or fetches none of those tried): no pass. */
  inconclusive: number;
  /** Inputs the reference could not fetch or decode when a check drew them. */
  uncheckable: number;
  /** Rows written without any check covering them (every input the actor held was uncheckable). */
  unverifiedRows: number;
}

export class Verifier<I extends Checkable, R> {
  private readonly actors = new Map<string, ActorTrust<I>>();
  /** Hosts with an actor caught lying: a second one bars the host. */
  private readonly struck = new Set<string>();
  /** Hosts barred whole (a second liar): an actor of theirs that answers later is refused too. */
  private readonly barredHosts = new Set<string>();
  private seq = 0;
  private running = 0;
  readonly stats: VerifyStats = {
    batchesChecked: 0,
    inputsChecked: 0,
    disagreements: 0,
    inconclusive: 0,
    uncheckable: 0,
    unverifiedRows: 0,
  };

  constructor(
    private readonly rate: number,
    private readonly hooks: VerifierHooks<I, R>,
  ) {}

  /** Rows held, waiting for a check to pass. */
  get heldRows(): number {
    let n = 0;
    for (const a of this.actors.values()) n += a.heldRows;
    return n;
  }

  /** Checks running now. */
  get pending(): number {
    return this.running;
  }

  /** Passed checks of `actorId` (probation ends at PROBATION). */
  trustOf(actorId: string): { passed: number; onProbation: boolean; heldRows: number } {
    const a = this.actors.get(actorId);
    return { passed: a?.passed ?? 0, onProbation: (a?.passed ?? 0) < PROBATION, heldRows: a?.heldRows ?? 0 };
  }

  /** A checked result of `actorId`: its rows are held, and the batch may be checked. */
  accept(actorId: string, hostId: string, inputs: I[], answers: ItemResult[], rows: OutputRow[]): void {
    let a = this.actors.get(actorId);
    if (!a)
      this.actors.set(
        actorId,
        (a = { hostId, passed: 0, batches: 0, held: [], heldRows: 0, checking: 0, requalifyAfter: 0, inconclusiveAt: 0, liar: false }),
      );
    if (this.barredHosts.has(hostId)) a.liar = true;
    if (a.liar) return this.hooks.refused(actorId, inputs);
    const held: HeldBatch<I> = { seq: ++this.seq, inputs, answers, rows };
    a.held.push(held);
    a.heldRows += rows.length;
    a.batches++;
    const random = this.hooks.random ?? Math.random;
    if (a.passed < PROBATION || random() < this.rate || a.heldRows >= HELD_LIMIT) this.check(actorId, a, held, false);
  }

  /** The job's end: each actor's last held batch, not yet covered by a check, is checked now. */
  finalChecks(): void {
    for (const [id, a] of this.actors) {
      const last = a.held.at(-1);
      if (a.liar || !last) continue;
      const covered = a.checking >= last.seq && a.requalifyAfter < a.checking && a.inconclusiveAt < a.checking;
      if (!covered) this.check(id, a, last, true);
    }
  }

  private check(actorId: string, a: ActorTrust<I>, batch: HeldBatch<I>, final: boolean): void {
    a.checking = Math.max(a.checking, batch.seq);
    this.running++;
    void this.run(actorId, a, batch, final)
      .catch((err: unknown) => this.hooks.failed(err as Error))
      .finally(() => {
        this.running--;
        this.hooks.settled();
      });
  }

  private async run(actorId: string, a: ActorTrust<I>, batch: HeldBatch<I>, final: boolean): Promise<void> {
    const startedAt = this.seq;
    const random = this.hooks.random ?? Math.random;
    // With --verify 1 every input of the batch; otherwise SAMPLE of them, drawn at random. Inputs the
    // reference cannot check are replaced by others: the batch's own first, then earlier held batches'.
    const want = this.rate >= 1 ? batch.inputs.length : Math.min(SAMPLE, batch.inputs.length);
    const pool = [
      ...shuffled(indices(batch), random),
      ...a.held
        .filter((h) => h !== batch && h.seq < batch.seq)
        .reverse()
        .flatMap((h) => shuffled(indices(h), random)),
    ];
    const compared: { input: I; answer: ItemResult; ref: R }[] = [];
    let next = 0;
    while (compared.length < want && next < pool.length) {
      const draw = pool.slice(next, next + want - compared.length);
      next += draw.length;
      const refs = await this.hooks.reference(draw.map((d) => d.held.inputs[d.i]!));
      for (const [j, ref] of refs.entries()) {
        const d = draw[j]!;
        if (ref === null) this.stats.uncheckable++;
        else compared.push({ input: d.held.inputs[d.i]!, answer: d.held.answers[d.i]!, ref });
      }
    }
    if (a.liar) return;
    if (compared.length === 0) {
      this.stats.inconclusive++;
      a.inconclusiveAt = Math.max(a.inconclusiveAt, batch.seq);
      // Nothing this actor holds can be checked: at the end (or past the held limit) its rows are written, marked unverified.
      if (final || a.heldRows >= HELD_LIMIT) this.release(a, batch.seq, true);
      return;
    }
    this.stats.batchesChecked++;
    this.stats.inputsChecked += compared.length;
    for (const c of compared) {
      const detail = this.hooks.compare(c.input.id, c.answer, c.ref);
      if (detail) {
        this.stats.disagreements++;
        return this.bar(actorId, a, detail);
      }
    }
    // Started before the actor went back on probation: it vouches for nothing held now.
    if (startedAt <= a.requalifyAfter) return;
    a.passed++;
    this.release(a, batch.seq, false);
  }

  private release(a: ActorTrust<I>, upTo: number, unverified: boolean): void {
    const released = a.held.filter((h) => h.seq <= upTo);
    a.held = a.held.filter((h) => h.seq > upTo);
    const rows = released.flatMap((h) => h.rows);
    a.heldRows -= rows.length;
    if (unverified) this.stats.unverifiedRows += rows.length;
    if (rows.length) this.hooks.release(rows, unverified);
  }

  /**
   * `actorId` lied: barred, its held rows discarded. The first liar of a host puts the host's other
   * actors back on probation; a second bars the host and discards its actors' held rows too.
   */
  private bar(actorId: string, a: ActorTrust<I>, detail: string): void {
    const hostBarred = this.struck.has(a.hostId);
    this.struck.add(a.hostId);
    if (hostBarred) this.barredHosts.add(a.hostId);
    const discarded = this.discard(a);
    for (const other of this.actors.values()) {
      if (other === a || other.liar || other.hostId !== a.hostId) continue;
      if (hostBarred) discarded.push(...this.discard(other));
      else {
        other.passed = 0;
        other.requalifyAfter = this.seq;
      }
    }
    this.hooks.caught({ actorId, hostId: a.hostId, detail, discarded, hostBarred });
  }

  private discard(a: ActorTrust<I>): I[] {
    a.liar = true;
    const inputs = a.held.flatMap((h) => h.inputs);
    a.held = [];
    a.heldRows = 0;
    return inputs;
  }
}

function indices<I extends Checkable>(h: HeldBatch<I>): { held: HeldBatch<I>; i: number }[] {
  return h.inputs.map((_, i) => ({ held: h, i }));
}

/** A copy of `xs` in random order (Fisher–Yates). */
function shuffled<T>(xs: T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Verification (--verify above 0): how often, the trusted reference, and how an answer is compared with it. */
export interface VerifySettings<R = unknown> {
  /** Fraction of each actor's batches checked after its probation (--verify). */
  rate: number;
  /** The reference's answers for these inputs (null: the coordinator cannot fetch or decode one). */
  reference(items: InputItem[]): Promise<(R | null)[]>;
  /** What is wrong with a tab's answer against the reference's, or null. */
  compare(id: string, answer: ItemResult, reference: R): string | null;
  random?: () => number;
}
