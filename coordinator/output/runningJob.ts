/**
 * What `tabpool run` drives, whichever way the job runs (in this process, or on NATS JetStream):
 * its lifecycle, what the live view, the summary and /api/status read of it, and where tabs' messages go.
 */
import type { ToCoordinator } from '../../shared/protocol.ts';
import type { JobStatus } from '../../shared/status.ts';
import type { HostStats } from '../host/hostStats.ts';
import type { ActorLink } from '../pool/actor.ts';
import type { JobOutput } from './jobOutput.ts';
import type { JobStats } from './jobStats.ts';

/** What a job tells whoever runs it: its log lines, and its counts whenever a row is written. */
export interface JobEvents {
  log(line: string): void;
  progress(stats: JobStats): void;
}

/** What the live view shows: rows so far, and since when work runs (wall-clock ms). */
export interface JobProgress {
  total: number | null;
  done: number;
  errors: number;
  workStartedAt: number | null;
  unit: 'img' | 'item';
  /** A generation job's tokens so far (prompt and generated apart); null for other jobs. */
  tokens: { prompt: number; generated: number } | null;
}

/** A job's progress as its stats give it (every mode's `progress()`). */
export function progressOf(stats: JobStats, workStartedAt: number | null, inputs: 'image' | 'record' | 'file'): JobProgress {
  return {
    total: stats.total,
    done: stats.rows,
    errors: stats.errors,
    workStartedAt,
    unit: inputs === 'image' ? 'img' : 'item',
    tokens: stats.generatedTokens > 0 || stats.promptTokens > 0 ? { prompt: stats.promptTokens, generated: stats.generatedTokens } : null,
  };
}

/** What the run measured, for its summary. */
export interface JobFigures {
  stats: JobStats;
  /**
   * The actor host's own figures (dispatch, wire, decode), where they cover the whole job; null on a queue,
   * whose tabs are spread over gateways.
   */
  host: HostStats | null;
  /** When dispatch began (the pool's minimum was ready): the start of the steady throughput. */
  workStartedAt: number | null;
  /** Each actor that answered: its batches, inputs and throughput as measured. */
  actors: { id: string; host: string; ep: string | null; batches: number; images: number; imagesPerSecond: number | null }[];
  /** Hosts barred because two of their actors lied. */
  barredHosts: { host: string; reason: string }[];
}

export interface RunningJob {
  readonly ended: Promise<void>;
  readonly output: JobOutput;
  /** Ctrl-C drained it (its output is resumable). */
  readonly interrupted: boolean;
  start(total: number | null): void;
  drain(): void;
  fail(err: unknown): void;
  progress(): JobProgress;
  figures(): JobFigures;
  status(join: JobStatus['join']): JobStatus;
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt: number): void;
  onClose(link: ActorLink, code: number, reason: string): void;
}
