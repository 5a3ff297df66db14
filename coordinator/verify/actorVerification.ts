/**
 * Verification for the job's actor: the coordinator's own copy of the class (reference.ts, with the
 * class's referenceConfig) computes a sample of each tab's inputs, and a tab's row is compared with
 * the reference's by the class's own `agree`, or per declared column (columnAgreement.ts).
 */
import type { ActorClass } from '../../shared/actorApi.ts';
import type { Column } from '../../shared/columns.ts';
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { VerifySettings } from './verifier.ts';
import { rowDisagreement } from './columnAgreement.ts';
import type { Reference } from './reference.ts';
import { referenceRows, referenceVerdicts } from './referenceInputs.ts';

type Row = Record<string, unknown>;

export interface VerifiedActor {
  cls: ActorClass;
  config: unknown;
  columns: readonly Column[];
}

/** Whether the class checks tabs' answers itself (an instance `verify`). */
export function hasVerify(cls: ActorClass): boolean {
  return typeof (cls.prototype as { verify?: unknown }).verify === 'function';
}

/** The config the reference copy of `actor` runs with. */
export function referenceConfigOf(actor: VerifiedActor): unknown {
  return actor.cls.referenceConfig ? actor.cls.referenceConfig(actor.config) : actor.config;
}

/** How a tab's answer is compared with the reference's row: the class's own `agree`, or per declared column. */
export function rowComparison(actor: VerifiedActor): VerifySettings<Row>['compare'] {
  return (id, answer, ref) => {
    if (!answer.ok) return `${id}: the tab answered ${answer.code}, but the reference computed a row`;
    let verdict: string | boolean | null;
    try {
      verdict = actor.cls.agree ? actor.cls.agree(answer.row, ref, actor.config) : rowDisagreement(actor.columns, answer.row, ref);
    } catch (err) {
      verdict = `the actor's agree threw: ${(err as Error).message}`;
    }
    if (verdict === null || verdict === true) return null;
    return `${id}: ${verdict === false ? "the actor's agree says the rows differ" : verdict}`;
  };
}

/**
 * How two tabs' answers are compared (a peer check): per declared column, with the tolerances of
 * columnAgreement.ts; two error answers agree when their codes do. The class's own `agree` is for a
 * tab against the reference (whose config may give it more columns), so it is not used here: a
 * difference is only a reason to ask the reference, which decides with `agree`.
 */
export function peerComparison(actor: VerifiedActor): NonNullable<VerifySettings<Row>['comparePeers']> {
  return (id, a, b) => {
    if (!a.ok || !b.ok)
      return a.ok === b.ok && !a.ok && !b.ok && a.code === b.code ? null : `${id}: one tab answered with a row, one with an error`;
    const d = rowDisagreement(actor.columns, a.row, b.row);
    return d === null ? null : `${id}: ${d}`;
  };
}

export function actorVerification(
  actor: VerifiedActor,
  reference: Reference,
  o: { rate: number; read: InputReader; resolveUrl: UrlResolver; random?: () => number },
): VerifySettings<Row> {
  return {
    rate: o.rate,
    random: o.random,
    reference: referenceRows((inputs) => reference.rows(inputs), o.read, o.resolveUrl),
    compare: rowComparison(actor),
    // An actor that checks answers itself (a language model, in one pass over an answer's tokens) is asked to.
    judge: hasVerify(actor.cls)
      ? referenceVerdicts((inputs, answers) => reference.verdicts(inputs, answers), o.read, o.resolveUrl)
      : undefined,
    comparePeers: peerComparison(actor),
  };
}
