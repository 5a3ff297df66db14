/** What a Job is built from: its settings, the model, the data, where rows go, and what it tells. */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import type { JobStatus } from '../../shared/status.ts';
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { Dataset } from '../io/dataset.ts';
import type { RowSink } from '../io/outputRow.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { Clock } from '../host/clock.ts';
import type { RowRules } from '../host/resultCheck.ts';
import type { VerifySettings } from '../output/jobOutput.ts';
import type { JobEvents } from '../output/runningJob.ts';

/** What the job needs to know of its actor: the spec a tab loads it by, how batches are cut for its model, what its rows must be. */
export interface JobActor {
  /** The spec a tab loads the actor and model by, offered these EPs. */
  spec(eps: ExecutionProvider[]): JobSpec;
  /** The model's batch dimension when it is fixed, else null (batches are cut in multiples of it). */
  fixedBatch: number | null;
  rules: RowRules;
  /** For messages and the status page: the actor's name, and what it reads. */
  name: string;
  inputs: ActorInputs;
  /** The files each tab loads (`ctx.models`), for the status page. */
  files: JobStatus['job']['files'];
}

export interface JobDeps {
  options: JobOptions;
  actor: JobActor;
  dataset: Dataset;
  sink: RowSink;
  events: JobEvents;
  /** Bytes each actor reserves on its host, and the largest batch that holds (--batch-size auto). */
  actorMemory: number;
  maxBatch: number;
  /** Rows already in the output that are errors (resume), for the exit status. */
  skippedErrors?: number;
  clock?: Clock;
  /** Reads an input's bytes; tests replace it. */
  readInput?: InputReader;
  /** The URL a tab fetches a remote input from (s3:// presigned); http(s) as it is by default. */
  resolveUrl?: UrlResolver;
  /** Verification (--verify above 0): how often, and the trusted reference to compare against. */
  verify?: VerifySettings;
}
