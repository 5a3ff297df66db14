/**
 * Trust no tab. Every actor's rows are held, not written, until a check of that actor passes: a
 * random sample of the actor's inputs is computed again and compared. Where the compute is: by an
 * actor on another host (a peer check, as BOINC replicates work), when there is one; the
 * coordinator's own copy of the actor (the trusted reference) decides when the two disagree, and
 * checks alone in a pool of one host. An actor cannot tell which of its batches are checked, nor
 * that a batch it is sent is someone else's check: nothing it is sent or asked differs.
 *
 * - Probation: an actor's first PROBATION batches are always checked.
 * - Then each batch is checked with probability `rate` (--verify), lowered for a host as its checks
 *   keep passing (halved every TRUSTED_STEP passes, down to rate × RATE_FLOOR; back to `rate` at a
 *   lie), and always once an actor holds HELD_LIMIT unverified rows, so no more than about that many
 *   rows ride on one check, whatever the rate.
 * - A peer check passes when the peer's rows agree with the actor's (per declared column). When
 *   they differ, the reference computes those inputs and bars whichever of the two disagrees with
 *   it (both, or neither: then EP differences, and the check passes). Two liars on two hosts telling
 *   the same lie would pass one another; a lie each tells alone does not.
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
import { noVerifyCounts } from '../../shared/status.ts';
import type { Caught, Checkable, VerifierHooks, VerifyCounts } from './verifierPorts.ts';

export type { Caught, Checkable, PeerAnswer, VerifierHooks, VerifySettings, VerifyCounts } from './verifierPorts.ts';

export const PROBATION = 3;
export const HELD_LIMIT = 256;
export const SAMPLE = 4;
export const DEFAULT_RATE = 0.05;
/** A host's check rate halves after this many passed checks in a row... */
export const TRUSTED_STEP = 32;
/** ...down to this share of --verify. */
export const RATE_FLOOR = 0.25;

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

export class Verifier<I extends Checkable, R> {
  private readonly actors = new Map<string, ActorTrust<I>>();
  /** Hosts with an actor caught lying: a second one bars the host. */
  private readonly struck = new Set<string>();
  /** Hosts barred whole (a second liar): an actor of theirs that answers later is refused too. */
  private readonly barredHosts = new Set<string>();
  private seq = 0;
  private running = 0;
  readonly stats: VerifyCounts = noVerifyCounts();
  /** Checks passed in a row by each host's actors (the adaptive rate). */
  private readonly hostPasses = new Map<string, number>();

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

  /** The chance a batch of `hostId`'s past probation is checked: --verify, lowered as the host's checks keep passing. */
  rateFor(hostId: string): number {
    if (this.rate >= 1) return 1;
    const steps = Math.floor((this.hostPasses.get(hostId) ?? 0) / TRUSTED_STEP);
    return Math.max(this.rate * RATE_FLOOR, this.rate * 0.5 ** steps);
  }

  /** Passed checks of `actorId` (probation ends at PROBATION). */
  trustOf(actorId: string): { passed: number; onProbation: boolean; heldRows: number } {
    const a = this.actors.get(actorId);
    return { passed: a?.passed ?? 0, onProbation: (a?.passed ?? 0) < PROBATION, heldRows: a?.heldRows ?? 0 };
  }

  /** A checked result of `actorId`: its rows are held, and the batch may be checked. */
  accept(actorId: string, hostId: string, inputs: I[], answers: ItemResult[], rows: OutputRow[]): void {
    const a = this.trustOf_(actorId, hostId);
    if (this.barredHosts.has(hostId)) a.liar = true;
    if (a.liar) return this.hooks.refused(actorId, inputs);
    const held: HeldBatch<I> = { seq: ++this.seq, inputs, answers, rows };
    a.held.push(held);
    a.heldRows += rows.length;
    a.batches++;
    const random = this.hooks.random ?? Math.random;
    if (a.passed < PROBATION || random() < this.rateFor(hostId) || a.heldRows >= HELD_LIMIT) this.check(actorId, a, held, false);
  }

  private trustOf_(actorId: string, hostId: string): ActorTrust<I> {
    let a = this.actors.get(actorId);
    if (!a)
      this.actors.set(
        actorId,
        (a = { hostId, passed: 0, batches: 0, held: [], heldRows: 0, checking: 0, requalifyAfter: 0, inconclusiveAt: 0, liar: false }),
      );
    return a;
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
    if (this.hooks.peer && this.hooks.comparePeers) {
      const outcome = await this.peerCheck(actorId, a, batch, shuffled(indices(batch), random).slice(0, want));
      if (outcome === 'lied' || a.liar) return;
      if (outcome === 'inconclusive') return this.inconclusive(a, batch, final);
      if (outcome === 'agreed') return this.passed(a, batch, startedAt);
    }
    const pool = [
      ...shuffled(indices(batch), random),
      ...a.held
        .filter((h) => h !== batch && h.seq < batch.seq)
        .reverse()
        .flatMap((h) => shuffled(indices(h), random)),
    ];
    const compared: { input: I; verdict: string | null }[] = [];
    let next = 0;
    while (compared.length < want && next < pool.length) {
      const draw = pool.slice(next, next + want - compared.length);
      next += draw.length;
      const inputs = draw.map((d) => d.held.inputs[d.i]!);
      const [verdicts] = await this.verdicts(inputs, [draw.map((d) => d.held.answers[d.i]!)]);
      for (const [j, verdict] of verdicts!.entries()) {
        if (verdict === undefined) this.stats.uncheckable++;
        else compared.push({ input: inputs[j]!, verdict });
      }
    }
    if (a.liar) return;
    if (compared.length === 0) return this.inconclusive(a, batch, final);
    this.stats.batchesChecked++;
    this.stats.inputsChecked += compared.length;
    for (const c of compared) {
      if (c.verdict) {
        this.stats.disagreements++;
        return this.bar(actorId, a, c.verdict);
      }
    }
    this.passed(a, batch, startedAt);
  }

  /**
   * The reference's verdict on each answer of each set for `inputs` (what is wrong, null when it holds,
   * undefined where the input cannot be checked): the actor's own `judge` where it has one, else the
   * reference's rows, computed once, compared with each set's answers.
   */
  private async verdicts(inputs: I[], sets: ItemResult[][]): Promise<(string | null | undefined)[][]> {
    this.stats.referenceInputs += inputs.length;
    if (this.hooks.judge) {
      const all = await this.hooks.judge(
        sets.flatMap(() => inputs),
        sets.flat(),
      );
      return sets.map((_, k) => all.slice(k * inputs.length, (k + 1) * inputs.length).map((v, j) => (v ? `${inputs[j]!.id}: ${v}` : v)));
    }
    const refs = await this.hooks.reference(inputs);
    return sets.map((answers) =>
      refs.map((ref, j) => (ref === null || ref === undefined ? undefined : this.hooks.compare(inputs[j]!.id, answers[j]!, ref))),
    );
  }

  private passed(a: ActorTrust<I>, batch: HeldBatch<I>, startedAt: number): void {
    // Started before the actor went back on probation: it vouches for nothing held now.
    if (startedAt <= a.requalifyAfter) return;
    a.passed++;
    this.hostPasses.set(a.hostId, (this.hostPasses.get(a.hostId) ?? 0) + 1);
    this.release(a, batch.seq, false);
  }

  private inconclusive(a: ActorTrust<I>, batch: HeldBatch<I>, final: boolean): void {
    this.stats.inconclusive++;
    a.inconclusiveAt = Math.max(a.inconclusiveAt, batch.seq);
    // Nothing this actor holds can be checked: at the end (or past the held limit) its rows are written, marked unverified.
    if (final || a.heldRows >= HELD_LIMIT) this.release(a, batch.seq, true);
  }

  /**
   * A peer check of `drawn` inputs of `batch`: `agreed`, `lied` (someone was barred: the actor, and
   * the peer too if it was the one wrong), `inconclusive` (they differ where the reference cannot
   * decide), or `no-peer` (no other host's actor could answer: the reference checks instead).
   */
  private async peerCheck(
    actorId: string,
    a: ActorTrust<I>,
    batch: HeldBatch<I>,
    drawn: { held: HeldBatch<I>; i: number }[],
  ): Promise<'agreed' | 'lied' | 'inconclusive' | 'no-peer'> {
    const inputs = drawn.map((d) => batch.inputs[d.i]!);
    // A peer lost mid-check (it left, or was barred) hands the check to another before the reference takes it.
    const peer = (await this.hooks.peer!(inputs, a.hostId)) ?? (a.liar ? null : await this.hooks.peer!(inputs, a.hostId));
    if (!peer || a.liar) return 'no-peer';
    const differ: { input: I; mine: ItemResult; theirs: ItemResult }[] = [];
    let compared = 0;
    for (const [k, d] of drawn.entries()) {
      const mine = batch.answers[d.i]!;
      const theirs = peer.answers[k]!;
      // A peer that could not fetch a URL input compares nothing for it.
      if (!theirs.ok && theirs.code === 'TAB_FETCH_FAILED') continue;
      compared++;
      if (this.hooks.comparePeers!(inputs[k]!.id, mine, theirs)) differ.push({ input: inputs[k]!, mine, theirs });
    }
    if (compared === 0) return 'no-peer';
    this.stats.peerChecks++;
    this.stats.batchesChecked++;
    this.stats.inputsChecked += compared;
    if (differ.length === 0) return 'agreed';
    // Two tabs differ: the reference decides who is wrong.
    this.stats.arbitrations++;
    this.stats.arbitrationInputs += differ.length;
    const [mine, theirs] = await this.verdicts(
      differ.map((x) => x.input),
      [differ.map((x) => x.mine), differ.map((x) => x.theirs)],
    );
    let mineWrong: string | null = null;
    let theirsWrong: string | null = null;
    let undecided = 0;
    for (const j of differ.keys()) {
      if (mine![j] === undefined || theirs![j] === undefined) {
        this.stats.uncheckable++;
        undecided++;
        continue;
      }
      mineWrong ??= mine![j]!;
      theirsWrong ??= theirs![j]!;
    }
    if (theirsWrong) {
      this.stats.disagreements++;
      const p = this.trustOf_(peer.actorId, peer.hostId);
      if (!p.liar) this.bar(peer.actorId, p, theirsWrong);
    }
    if (mineWrong && !a.liar) {
      this.stats.disagreements++;
      this.bar(actorId, a, mineWrong);
    }
    if (mineWrong || a.liar) return 'lied';
    return undecided > 0 ? 'inconclusive' : 'agreed';
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
    this.hostPasses.delete(a.hostId);
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
