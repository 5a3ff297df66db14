/**
 * The API's options, named as Ray Data names them (camelCase), checked by the very code that checks
 * `tabpool run`'s flags: each value is written as the text the flag would hold (options/rawOptions.ts,
 * from the same defaults) and checked by parseRunOptions, so a value the CLI refuses the API
 * refuses, with the same error code, the message naming the option as the caller wrote it.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { RunOptions } from '../options/jobOptions.ts';
import { RUN_DEFAULTS, type RawRunOptions } from '../options/rawOptions.ts';
import { parseRunOptions } from '../options/runOptions.ts';

/** Ray's ActorPoolStrategy: a fixed pool (`size`) or one that starts at `min` actors and grows to `max`. */
export interface ActorPoolStrategy {
  readonly kind: 'ActorPool';
  readonly min: number;
  readonly max: number;
}

/** `ActorPool(4)`, `ActorPool({ size: 4 })` or `ActorPool({ min: 2, max: 8 })`, as Ray's ActorPoolStrategy. */
export function ActorPool(size: number | { size?: number; min?: number; max?: number }): ActorPoolStrategy {
  const o = typeof size === 'number' ? { size } : size;
  const min = o.size ?? o.min ?? 1;
  const max = o.size ?? o.max ?? min;
  return { kind: 'ActorPool', min, max };
}

/** A duration: milliseconds, or a string as the CLI takes it ('90s', '2m', '500ms'). */
export type Duration = number | string;

/** What `mapBatches` takes: the job's options (as `tabpool run`'s flags) and where its tabs come from. */
export interface MapBatchesOptions {
  /** The pool: `ActorPool(...)` (--pool; default 1..8). */
  compute?: ActorPoolStrategy;
  /** Inputs per batch, or 'auto' to size each actor's batches to its speed (--batch-size). */
  batchSize?: number | 'auto';
  /** GPUs each actor reserves on its host, fractions sharing one (--num-gpus). */
  numGpus?: number;
  /** CPUs each actor reserves (--num-cpus). */
  numCpus?: number;
  /** Memory each actor reserves: bytes, or a size such as '2GiB' (--memory). */
  memory?: number | string;
  /**
   * The actor's files (--model): a built-in model's name, an .onnx file or a folder; several as a list; named as
   * `{ cls: 'a.onnx', rec: 'b.onnx' }` (`ctx.models.cls`, `ctx.models.rec`).
   */
  model?: string | string[] | Readonly<Record<string, string>>;
  /** Turn images upright by their EXIF orientation, in the tabs and the reference alike (--exif-transpose). */
  exifTranspose?: boolean;
  /** Passed to your actor as ctx.config (--actor-config). */
  actorConfig?: unknown;
  /** The built-in classifier's classes per row (--top-k), and its full logits (--logits). */
  topK?: number;
  logits?: boolean;
  ep?: 'auto' | 'webgpu' | 'wasm';
  allowSoftwareGpu?: boolean;
  maxTasksInFlight?: number;
  maxRetries?: number;
  joinTimeout?: Duration;
  stallTimeout?: Duration;
  batchTimeout?: Duration;
  /** Share of each actor's batches checked (--verify; default 0.05), and the reference's cores (--verify-cpu). */
  verify?: number;
  verifyCpu?: number;
  cacheDir?: string;
  s3Endpoint?: string;
  /** NATS JetStream: the queue's servers, the job's name, and how long a silent gateway keeps a batch. */
  queue?: string;
  job?: string;
  ackWait?: Duration;
  /** Local headless Chromium tabs to open (--launch; default 0: wait for browsers to join). */
  launch?: number;
  host?: string;
  port?: number;
  token?: string;
  tls?: 'self-signed';
  tlsCert?: string;
  tlsKey?: string;
  maxMessagesPerSecond?: number;
  /** A tab starts its actor afresh after this many batches (--recycle-after; 0 never), or above this much memory (--recycle-above). */
  recycleAfter?: number;
  recycleAbove?: number | string;
  /** A tab silent this long is dropped (--heartbeat; default 15 s). */
  heartbeat?: Duration;
  /** A standing pool's head (tabpool serve): the job runs on its tabs (--on), with its submit token, weight and priority. */
  on?: string;
  submitToken?: string;
  weight?: number;
  priority?: number;
}

/** What the write methods take. */
export interface WriteOptions {
  /** Replace the output if it exists (--overwrite). */
  overwrite?: boolean;
  /** Continue an interrupted job: ids already in the output are skipped (--resume). */
  resume?: boolean;
  /** A .parquet dataset's rows per part file (--rows-per-part). */
  rowsPerPart?: number;
}

/** The API's name for each flag that is not simply the flag in camelCase. */
const RENAMED: Readonly<Record<string, string>> = { pool: 'compute' };
const OPTIONS: readonly string[] = [
  'compute',
  'batchSize',
  'numGpus',
  'numCpus',
  'memory',
  'model',
  'exifTranspose',
  'actorConfig',
  'topK',
  'logits',
  'ep',
  'allowSoftwareGpu',
  'maxTasksInFlight',
  'maxRetries',
  'joinTimeout',
  'stallTimeout',
  'batchTimeout',
  'verify',
  'verifyCpu',
  'cacheDir',
  's3Endpoint',
  'queue',
  'job',
  'ackWait',
  'launch',
  'host',
  'port',
  'token',
  'tls',
  'tlsCert',
  'tlsKey',
  'maxMessagesPerSecond',
  'heartbeat',
  'recycleAfter',
  'recycleAbove',
  'on',
  'submitToken',
  'weight',
  'priority',
] satisfies (keyof MapBatchesOptions)[];

const camel = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** `--num-gpus` → `numGpus`: the option's name in the API, for messages. */
function apiName(flag: string): string {
  const name = camel(flag);
  return RENAMED[name] ?? name;
}

/** --model's values from the option: a name or path, several, or NAME=PATH for each entry of an object. */
function modelValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  if (typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string'))
    return Object.entries(value as Record<string, string>).map(([name, file]) => `${name}=${file}`);
  throw new TabpoolError('BAD_ARGUMENT', "model must be a file or built-in name, a list of them, or { name: 'file.onnx', … }");
}

/** A value as the CLI's flag would carry it. */
function flagValue(name: string, value: unknown): string | boolean | string[] {
  if (typeof value === 'boolean') return value;
  if (name === 'model') return modelValues(value);
  if (name === 'actorConfig') return JSON.stringify(value);
  if (name.endsWith('Timeout') || name === 'ackWait' || name === 'heartbeat')
    return typeof value === 'number' ? `${value}ms` : String(value);
  return String(value);
}

/**
 * The checked settings of a job: `data` and `out` as the dataset and write method give them, `actor` a module
 * path (or null: the built-in classifier). Throws the CLI's coded error (BAD_ARGUMENT…) for a bad value.
 */
export function checkedOptions(
  source: { data: string | null; actor: string | null; out: string },
  options: MapBatchesOptions,
  write: WriteOptions,
): RunOptions {
  for (const key of Object.keys(options))
    if (!OPTIONS.includes(key))
      throw new TabpoolError('BAD_ARGUMENT', `mapBatches: no option ${JSON.stringify(key)}; the options are ${OPTIONS.join(', ')}`);
  for (const key of Object.keys(write))
    if (!['overwrite', 'resume', 'rowsPerPart'].includes(key))
      throw new TabpoolError('BAD_ARGUMENT', `write: no option ${JSON.stringify(key)}; the options are overwrite, resume, rowsPerPart`);
  const raw: Record<string, unknown> = { ...RUN_DEFAULTS, model: [...RUN_DEFAULTS.model], out: source.out };
  if (source.data !== null) raw.data = source.data;
  if (source.actor !== null) raw.actor = source.actor;
  for (const [name, value] of Object.entries({ ...options, ...write })) {
    if (value === undefined) continue;
    if (name === 'compute') {
      const pool = value as ActorPoolStrategy;
      if (typeof pool !== 'object' || pool === null || pool.kind !== 'ActorPool')
        throw new TabpoolError('BAD_ARGUMENT', 'compute must be ActorPool(size) or ActorPool({ min, max }), as Ray’s ActorPoolStrategy');
      raw.pool = `${pool.min}..${pool.max}`;
    } else raw[name] = flagValue(name, value);
  }
  try {
    return { ...parseRunOptions(raw as unknown as RawRunOptions), quiet: true, json: false, summaryJson: null };
  } catch (err) {
    if (!(err instanceof TabpoolError)) throw err;
    // The same check and code as the CLI's, naming the option as the caller wrote it.
    throw new TabpoolError(
      err.code,
      err.message.replace(/--([a-z][a-z0-9-]*)/g, (_, flag: string) => apiName(flag)),
    );
  }
}
