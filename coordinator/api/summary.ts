/**
 * The end of a run, for a person (text) and for a program (`--json`, `--summary-json FILE`): the
 * rows, the time, the throughput, the coordinator's dispatch cost, the wire, each actor's share.
 */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { SerializedError } from '../../shared/errors.ts';
import type { BarredActor } from '../output/jobOutput.ts';
import type { VerifyCounts } from '../verify/verifier.ts';
import type { JobFigures } from '../output/runningJob.ts';

export interface RunSummary {
  status: 'done' | 'interrupted' | 'failed';
  exitCode: number;
  error: SerializedError | null;
  model: { name: string; sha256: string; builtin: boolean } | null;
  /** The actor (`built-in classifier` or the module), and what it reads: the summary speaks of images, or of items. */
  actor: { name: string; inputs: ActorInputs } | null;
  output: string;
  rows: { written: number; predictions: number; errors: number; resumedRows: number; resumedErrors: number };
  elapsedSeconds: number | null;
  timeToFirstPredictionSeconds: number | null;
  /** Rows a second from the pool being ready to the last row. */
  steadyImagesPerSecond: number | null;
  /**
   * A generation job's tokens (its rows' num_input_tokens and num_generated_tokens), and each a second from the
   * pool being ready to the last row; null for other jobs.
   */
  tokens: { prompt: number; generated: number; promptPerSecond: number | null; generatedPerSecond: number | null } | null;
  dispatch: {
    batches: number;
    p50Ms: number | null;
    p99Ms: number | null;
    roundTripP50Ms: number | null;
    roundTripP99Ms: number | null;
  } | null;
  wire: { bytesPerImage: number; fileBytesPerImage: number } | null;
  decodeMsPerImage: number | null;
  actors: { id: string; host: string; ep: string | null; batches: number; images: number; imagesPerSecond: number | null }[];
  /** Verification against the coordinator's own model; null with --verify 0. */
  verify: (VerifyCounts & { rate: number; barredActors: BarredActor[]; barredHosts: { host: string; reason: string }[] }) | null;
  /**
   * URL inputs: sent to tabs as URLs, and fetched by the coordinator instead (no tab could); null in queue
   * mode (gateways fetch for their tabs).
   */
  urlInputs: { sent: number; fetchedByCoordinator: number } | null;
}

export function summarize(
  base: Pick<RunSummary, 'status' | 'exitCode' | 'error' | 'model' | 'actor' | 'output' | 'verify'>,
  m: JobFigures | null,
): RunSummary {
  const s = m?.stats ?? null;
  const h = m?.host ?? null;
  const elapsed = s ? ((s.finishedAt ?? Date.now()) - s.startedAt) / 1000 : null;
  const steady =
    s && m?.workStartedAt && s.finishedAt && s.finishedAt > m.workStartedAt ? (s.rows * 1000) / (s.finishedAt - m!.workStartedAt!) : null;
  return {
    ...base,
    rows: {
      written: s?.rows ?? 0,
      predictions: s ? s.rows - s.errors : 0,
      errors: s?.errors ?? 0,
      resumedRows: s?.skipped ?? 0,
      resumedErrors: s?.skippedErrors ?? 0,
    },
    elapsedSeconds: elapsed,
    timeToFirstPredictionSeconds: s?.firstPredictionAt ? (s.firstPredictionAt - s.startedAt) / 1000 : null,
    steadyImagesPerSecond: steady,
    tokens: s && (s.promptTokens > 0 || s.generatedTokens > 0) ? tokenRates(s, m!.workStartedAt) : null,
    dispatch: h
      ? {
          batches: h.wire.batches,
          p50Ms: h.dispatchLatency.percentile(50),
          p99Ms: h.dispatchLatency.percentile(99),
          roundTripP50Ms: h.roundTrip.percentile(50),
          roundTripP99Ms: h.roundTrip.percentile(99),
        }
      : null,
    wire:
      h && h.wire.images > 0
        ? { bytesPerImage: h.wire.frameBytes / h.wire.images, fileBytesPerImage: h.wire.itemBytes / h.wire.images }
        : null,
    decodeMsPerImage: h && h.decodedImages > 0 ? h.decodeMs / h.decodedImages : null,
    urlInputs: h ? { sent: h.wire.urlInputs, fetchedByCoordinator: h.fetchedHere } : null,
    actors: m?.actors ?? [],
  };
}

function tokenRates(s: JobFigures['stats'], workStartedAt: number | null): NonNullable<RunSummary['tokens']> {
  const seconds = workStartedAt && s.finishedAt && s.finishedAt > workStartedAt ? (s.finishedAt - workStartedAt) / 1000 : null;
  return {
    prompt: s.promptTokens,
    generated: s.generatedTokens,
    promptPerSecond: seconds ? s.promptTokens / seconds : null,
    generatedPerSecond: seconds ? s.generatedTokens / seconds : null,
  };
}

const ms = (v: number | null, digits: number): string => (v === null ? '–' : `${v.toFixed(digits)} ms`);

/** The summary as lines for a person. */
export function summaryLines(r: RunSummary): string[] {
  const lines: string[] = [''];
  const { rows } = r;
  const images = r.actor === null || r.actor.inputs === 'image';
  const perSecond = images ? 'img/s' : 'items/s';
  const unit = images ? 'images' : 'items';
  const rate = r.elapsedSeconds ? rows.written / Math.max(r.elapsedSeconds, 1e-9) : 0;
  lines.push(
    `${r.status}: ${rows.written} rows (${rows.predictions} predictions, ${rows.errors} ` +
      `errors${rows.resumedRows ? `, ${rows.resumedRows} already done before --resume` : ''}) in ` +
      `${(r.elapsedSeconds ?? 0).toFixed(1)}s — ${rate.toFixed(2)} ${perSecond}`,
  );
  if (rows.resumedErrors > 0) lines.push(`${rows.resumedErrors} of the rows from before --resume are errors`);
  if (r.timeToFirstPredictionSeconds !== null) lines.push(`time to first prediction: ${r.timeToFirstPredictionSeconds.toFixed(1)}s`);
  if (r.steadyImagesPerSecond !== null)
    lines.push(`steady throughput (from the pool being ready to the last row): ${r.steadyImagesPerSecond.toFixed(2)} ${perSecond}`);
  const t = r.tokens;
  if (t)
    lines.push(
      `tokens: ${t.generated} generated${t.generatedPerSecond !== null ? ` (${t.generatedPerSecond.toFixed(1)}/s)` : ''}, ` +
        `${t.prompt} of prompts${t.promptPerSecond !== null ? ` (${t.promptPerSecond.toFixed(1)}/s)` : ''}, ` +
        'from the pool being ready to the last row',
    );
  const d = r.dispatch;
  if (d && d.batches > 0) {
    lines.push(
      `dispatch: ${d.batches} batches; coordinator's time from a result arriving to the next batch sent p50 ` +
        `${ms(d.p50Ms, 3)}, p99 ${ms(d.p99Ms, 3)}; round trip p50 ${ms(d.roundTripP50Ms, 1)}, p99 ${ms(d.roundTripP99Ms, 1)}`,
    );
  }
  if (r.wire)
    lines.push(`wire: ${r.wire.bytesPerImage.toFixed(1)} bytes/image sent for ${r.wire.fileBytesPerImage.toFixed(1)} bytes/image of files`);
  if (r.urlInputs && r.urlInputs.sent > 0)
    lines.push(
      `URL inputs: ${r.urlInputs.sent} sent to tabs as URLs (their bytes never passed through here); ` +
        `${r.urlInputs.fetchedByCoordinator} fetched by the coordinator because no tab could`,
    );
  const v = r.verify;
  if (v) {
    lines.push(
      `verification (--verify ${v.rate}): ${v.batchesChecked} checks (${v.inputsChecked} inputs compared), ` +
        `${v.peerChecks} of them by actors of other hosts; ${v.disagreements} disagreement(s); ${v.barredActors.length} ` +
        `actor(s) and ${v.barredHosts.length} host(s) barred`,
      `  the coordinator's own model computed ${v.referenceInputs} input(s), ${v.arbitrationInputs} of them to decide ` +
        `between two tabs (${v.arbitrations} time(s))`,
    );
    if (v.uncheckable > 0 || v.inconclusive > 0)
      lines.push(
        `  ${v.uncheckable} input(s) drawn for a check could not be fetched or decoded by the coordinator; ` +
          `${v.inconclusive} check(s) compared nothing and passed nothing`,
      );
    if (v.unverifiedRows > 0)
      lines.push(`  ${v.unverifiedRows} row(s) written unverified: no input of their actor's could be checked (the log names them)`);
    for (const b of v.barredActors) lines.push(`  barred: ${b.reason}`);
  } else lines.push("verification: off (--verify 0): the tabs' answers were trusted as they came");
  if (r.decodeMsPerImage !== null)
    lines.push(
      `worker ${images ? 'decode + preprocess' : 'record parsing'}: ${r.decodeMsPerImage.toFixed(2)} ms/${images ? 'image' : 'item'}`,
    );
  for (const a of r.actors)
    lines.push(
      `  ${a.id} (${a.ep}, host ${a.host}): ${a.images} ${unit} in ${a.batches} ` +
        `batches${a.imagesPerSecond !== null ? `, ${a.imagesPerSecond.toFixed(2)} ${perSecond}` : ''}`,
    );
  if (r.model?.builtin) {
    lines.push(
      'note: the built-in model has seeded weights, not trained ones: its classes are bare indices ("class ' +
        '281"), not ImageNet predictions. For real predictions pass an exported model with --model (README: "Real pretrained weights").',
    );
  }
  lines.push(`output: ${r.output}`);
  return lines;
}
