/**
 * A job's options as text, before they are checked: what `tabpool run`'s flags hold (the CLI's
 * commander declarations, cli/runFlags.ts, are checked against this type) and what the API writes
 * its options as (api/apiOptions.ts), so both go through the one check (runOptions.ts). The
 * defaults are declared here once: the flags show them, the API starts from them.
 */
import path from 'node:path';

export const DEFAULT_CACHE = process.env.TABPOOL_CACHE ?? path.join(process.cwd(), '.tabpool');

export interface RawRunOptions {
  model: string[];
  actor?: string;
  actorConfig?: string;
  data?: string;
  exifTranspose?: boolean;
  out: string;
  overwrite?: boolean;
  rowsPerPart?: string;
  resume?: boolean;
  batchSize: string;
  pool: string;
  ep: string;
  allowSoftwareGpu?: boolean;
  launch: string;
  host: string;
  port: string;
  topK?: string;
  numGpus?: string;
  numCpus?: string;
  memory?: string;
  maxTasksInFlight: string;
  joinTimeout: string;
  stallTimeout: string;
  batchTimeout?: string;
  verify: string;
  verifyCpu: string;
  recycleAfter: string;
  recycleAbove?: string;
  maxRetries: string;
  maxMessagesPerSecond: string;
  heartbeat: string;
  logits?: boolean;
  cacheDir: string;
  token?: string;
  s3Endpoint?: string;
  tls?: string;
  tlsCert?: string;
  tlsKey?: string;
  queue?: string;
  job?: string;
  ackWait: string;
  on?: string;
  submitToken?: string;
  weight: string;
  priority: string;
  quiet?: boolean;
  json?: boolean;
  summaryJson?: string;
}

/** Every option with a default, as `tabpool run --help` shows it. */
export const RUN_DEFAULTS = {
  model: [] as string[],
  out: 'predictions.jsonl',
  batchSize: 'auto',
  pool: '1..8',
  ep: 'auto',
  launch: '0',
  host: '127.0.0.1',
  port: '0',
  maxTasksInFlight: '2',
  joinTimeout: '120s',
  stallTimeout: '5m',
  verify: '0.05',
  verifyCpu: '1',
  recycleAfter: '10000',
  maxRetries: '3',
  maxMessagesPerSecond: '2000',
  heartbeat: '15s',
  cacheDir: DEFAULT_CACHE,
  ackWait: '30s',
  weight: '1',
  priority: '0',
} as const satisfies Partial<RawRunOptions>;
