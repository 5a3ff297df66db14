/**
 * What a job counts of its rows, and when things happened. The output owns the row counts (it
 * writes the rows), the job its times; the summary and /api/status read both beside the host's
 * own figures (host/hostStats.ts).
 */
export interface JobStats {
  total: number | null;
  /** Rows written this run (predictions + errors). */
  done: number;
  errors: number;
  /** Rows already in the output when the job resumed, and how many of them are errors. */
  skipped: number;
  skippedErrors: number;
  /** Wall-clock times (ms since the epoch). */
  startedAt: number;
  /** The first row of a prediction written. */
  firstPredictionAt: number | null;
  finishedAt: number | null;
}

export function newJobStats(startedAt: number, skipped: number, skippedErrors: number): JobStats {
  return { total: null, done: 0, errors: 0, skipped, skippedErrors, startedAt, firstPredictionAt: null, finishedAt: null };
}
