/**
 * A job's settings, as the CLI parsed and checked them (api/runOptions.ts). Types only, importing
 * nothing: every part of the coordinator reads these, and none of them needs the parser.
 */
/** Ray's ActorPoolStrategy size: work starts at `min` ready actors, the pool grows to `max`. */
export interface PoolSize {
  min: number;
  max: number;
}

export type EpChoice = 'auto' | 'webgpu' | 'wasm';
/** JSON Lines or CSV (one file), or a Parquet dataset (a directory of part files). */
export type OutputFormat = 'jsonl' | 'csv' | 'parquet';

/** What the job means: its actor, model, data, output, pool, budgets, verification. The same whoever runs it (CLI or API). */
export interface JobSettings {
  /**
   * Every --model: a built-in model's name or a path to an .onnx file (`ctx.model`), a folder (each file by its
   * path inside), or NAME=PATH (`ctx.models.NAME`). Empty: the built-in classifier's resnet18, or no files for a user's actor.
   */
  models: string[];
  /** Turn images upright by their EXIF orientation (Pillow's ImageOps.exif_transpose) in the tabs and the reference alike. */
  exifTranspose: boolean;
  /** A user's actor module (--actor), or null for the built-in classifier. */
  actor: string | null;
  /** --actor-config, parsed (`ctx.config`); null without one. */
  actorConfig: unknown;
  /** A directory, a manifest file, or null for the built-in sample dataset. */
  data: string | null;
  out: string;
  format: OutputFormat;
  overwrite: boolean;
  /** Parquet: rows per part file; null = the sink's default. */
  rowsPerPart: number | null;
  /** Images per batch: fixed (Ray's batch_size), or sized per actor to its measured speed. */
  batchSize: number | 'auto';
  pool: PoolSize;
  ep: EpChoice;
  allowSoftwareGpu: boolean;
  topK: number;
  /** Per-actor budget; null = default for the EP (1 GPU for webgpu, 0 for wasm). */
  numGpus: number | null;
  /** Per-actor CPUs; null = Ray's default for actors: 1 CPU to be placed, 0 held once running. */
  numCpus: number | null;
  /** Per-actor memory; null = estimated from the model and batch size. */
  memoryBytes: number | null;
  maxTasksInFlight: number;
  joinTimeoutMs: number;
  /** No progress (inputs waiting, actors ready, nothing in flight, no row) this long: say why; twice as long: fail with STALLED. */
  stallTimeoutMs: number;
  /** Fixed per-batch deadline; null = adapted to each actor's measured speed. */
  batchTimeoutMs: number | null;
  maxRetries: number;
  /** Share of each actor's batches checked against the coordinator's own model (0: trust the tabs). */
  verifyRate: number;
  /** Cores the coordinator's own reference may use (its threads): it decides between tabs that differ, and checks where no peer can. */
  verifyCpu: number;
  logits: boolean;
  resume: boolean;
  cacheDir: string;
  /** An S3-compatible endpoint for s3:// inputs (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS itself). */
  s3Endpoint: string | null;
  /** NATS servers of the job's work queue (--queue); null: one process, no NATS. */
  queue: string[] | null;
  /** The job's name on the queue (--job); null: a fresh one. */
  job: string | null;
  /** With --queue: how long a gateway may hold a batch without a sign of life before JetStream gives it to another. */
  ackWaitMs: number;
  /** When a tab starts its actor afresh between batches (a new worker, the model from cache): --recycle-after, --recycle-above. */
  recycle: { afterBatches: number | null; aboveBytes: number | null };
  /** On a standing pool: the job's share of actors beyond the minimums (--weight), and its place in line (--priority). */
  weight: number;
  priority: number;
}

/** Where the job listens for tabs and how it lets them in: the address, TLS, the join token, and local tabs it launches. */
export interface ServeSettings {
  /** Local headless Chromium tabs to open (0: wait for browsers to join). */
  launch: number;
  host: string;
  port: number;
  /** Messages a second one client may send before it is cut off as a flood. */
  maxMessagesPerSecond: number;
  /** A tab silent this long (a closed lid, a frozen process) is dropped and its batches run elsewhere (--heartbeat). */
  heartbeatMs: number;
  token: string | null;
  /** `self-signed`: tabpool makes (and keeps) a certificate for this machine; else --tls-cert/--tls-key, or none. */
  tls: 'self-signed' | null;
  tlsCert: string | null;
  tlsKey: string | null;
  /** A standing pool's head (--on): its tabs serve the job, and this process serves none. Null: serve here. */
  on: string | null;
  /** The head's submit token (--submit-token or TABPOOL_SUBMIT_TOKEN). */
  submitToken: string | null;
}

/** How the command line shows a job; the API has none of these (it prints nothing unless given a logger). */
export interface Presentation {
  quiet: boolean;
  /** Print the summary as one JSON object on stdout (instead of text). */
  json: boolean;
  /** Also write the JSON summary to this file. */
  summaryJson: string | null;
}

/** A job as the coordinator runs it: what it means and where it serves. */
export type JobOptions = JobSettings & ServeSettings;

/** `tabpool run`'s flags, checked: the job, its serving, and how the command line shows it. */
export type RunOptions = JobOptions & Presentation;
