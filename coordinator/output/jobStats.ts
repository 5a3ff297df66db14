/**
 * What a job counts of its rows, and when things happened. One owner writes them: the job's output
 * (jobOutput.ts), which writes the rows, is told the job's total when it starts and its end when it
 * ends; everyone else (the summary, /api/status, the live view) reads this readonly view.
 */
export interface JobStats {
  readonly total: number | null;
  /** Rows written this run (predictions + errors). */
  readonly rows: number;
  readonly errors: number;
  /** Rows already in the output when the job resumed, and how many of them are errors. */
  readonly skipped: number;
  readonly skippedErrors: number;
  /** Wall-clock times (ms since the epoch). */
  readonly startedAt: number;
  /** The first row of a prediction written. */
  readonly firstPredictionAt: number | null;
  readonly finishedAt: number | null;
  /** A generation job's tokens, from its rows' num_input_tokens and num_generated_tokens (0 for other jobs). */
  readonly promptTokens: number;
  readonly generatedTokens: number;
}

/** The counts as their owner keeps them. */
export type JobCounts = { -readonly [K in keyof JobStats]: JobStats[K] };

export function newJobStats(startedAt: number, skipped: number, skippedErrors: number): JobCounts {
  return {
    total: null,
    rows: 0,
    errors: 0,
    skipped,
    skippedErrors,
    startedAt,
    firstPredictionAt: null,
    finishedAt: null,
    promptTokens: 0,
    generatedTokens: 0,
  };
}

/** The tokens a generation row counts (its num_input_tokens and num_generated_tokens), zero for any other row. */
export function rowTokens(row: Record<string, unknown>): { prompt: number; generated: number } {
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return { prompt: n(row.num_input_tokens), generated: n(row.num_generated_tokens) };
}
