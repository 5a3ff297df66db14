/**
 * The job's settings, checked before anything starts: a bad flag fails here, with the fix in the
 * message, before any browser is launched or any file written.
 */
import { headOrigin } from './headOrigin.ts';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';
import { parseSize } from '../../shared/units.ts';
import type { OutputFormat, PoolSize, RunOptions } from './jobOptions.ts';
import { RUN_DEFAULTS, type RawRunOptions } from './rawOptions.ts';
import { jobResources, parseQueueUrl } from '../queue/names.ts';

function bad(flag: string, value: string, expected: string): TabpoolError {
  return new TabpoolError('BAD_ARGUMENT', `${flag} ${JSON.stringify(value)} is not valid: expected ${expected}`);
}

export function int(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(flag, value, max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`);
  }
  return n;
}

function nonNegative(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw bad(flag, value, 'a number ≥ 0 (fractions allowed, e.g. 0.5)');
  return n;
}

function fraction(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw bad(flag, value, 'a number from 0 (off) to 1 (every input), e.g. 0.05');
  return n;
}

export function parsePool(value: string): PoolSize {
  const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(value);
  if (!m) throw bad('--pool', value, 'N (a fixed pool) or MIN..MAX, e.g. 2..4');
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min < 1) throw bad('--pool', value, 'at least 1 actor');
  if (max < min) throw bad('--pool', value, `MIN..MAX with MIN ≤ MAX (got ${min} > ${max})`);
  return { min, max };
}

export function duration(flag: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  if (!m) throw bad(flag, value, 'a duration like 90s, 2m or 500ms');
  const unit = m[2] ?? 's';
  return Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
}

export function outputFormatOf(out: string): OutputFormat {
  const ext = path.extname(out).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.parquet') return 'parquet';
  throw bad('--out', out, 'a file ending in .jsonl or .csv, or a .parquet dataset (a directory of part files)');
}

/** The flags `run` and `gateway` share for serving tabs: TLS one way or the other, and the token's shape. */
export function checkServing(raw: { tls?: string; tlsCert?: string; tlsKey?: string; token?: string }): void {
  if (raw.tls !== undefined && (raw.tlsCert !== undefined || raw.tlsKey !== undefined)) {
    throw new TabpoolError('BAD_ARGUMENT', 'use either --tls self-signed or --tls-cert with --tls-key, not both');
  }
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) {
    throw new TabpoolError('BAD_ARGUMENT', 'TLS needs both --tls-cert and --tls-key');
  }
  if (raw.token !== undefined && !/^[A-Za-z0-9_-]{16,128}$/.test(raw.token)) {
    throw bad('--token', raw.token, '16 to 128 characters from A-Z a-z 0-9 _ -');
  }
}

/**
 * Flags the chosen mode would ignore are refused, so that nothing quietly does less than it says
 * (issue 16: `--logits` with a CSV output dropped the logits).
 */
function refuseIgnoredFlags(raw: RawRunOptions, out: string): void {
  const refuse = (message: string): never => {
    throw new TabpoolError('BAD_ARGUMENT', message);
  };
  if (raw.rowsPerPart !== undefined && outputFormatOf(out) !== 'parquet')
    refuse(
      `--rows-per-part sizes the part files of a .parquet output; --out ${out} is one file: drop --rows-per-part ` +
        `or write --out NAME.parquet`,
    );
  if (raw.resume === true && raw.overwrite === true)
    refuse('--resume finishes the output that is there, --overwrite replaces it: pass one of them');
  if (raw.actor !== undefined && (raw.topK !== undefined || raw.logits === true)) {
    refuse(
      `${raw.topK !== undefined ? '--top-k' : '--logits'} shapes the built-in classifier's rows; with --actor ` +
        `your actor declares its own columns: drop the flag, or pass what you need in --actor-config`,
    );
  }
  if (raw.actor === undefined && raw.actorConfig !== undefined)
    refuse('--actor-config is passed to an --actor module; the built-in classifier takes --top-k and --logits');
  if (raw.allowSoftwareGpu === true && raw.ep === 'wasm')
    refuse('--allow-software-gpu accepts a software WebGPU adapter, but --ep wasm uses none: drop one of them');
}

export function parseRunOptions(raw: RawRunOptions): RunOptions {
  const ep = raw.ep;
  if (ep !== 'auto' && ep !== 'webgpu' && ep !== 'wasm') throw bad('--ep', ep, 'auto, webgpu or wasm');
  const out = raw.out ?? 'predictions.jsonl';
  let memoryBytes: number | null = null;
  if (raw.memory !== undefined) {
    memoryBytes = parseSize(raw.memory);
    if (memoryBytes === null || memoryBytes <= 0) throw bad('--memory', raw.memory, 'a size like 5GiB, 512MiB or 2e9');
  }
  const numGpus = raw.numGpus === undefined ? null : nonNegative('--num-gpus', raw.numGpus);
  if (numGpus !== null && ep === 'wasm' && numGpus > 0) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--num-gpus ${numGpus} with --ep wasm: wasm actors use no GPU; drop --num-gpus or use --ep webgpu`,
    );
  }
  const numCpus = raw.numCpus === undefined ? null : nonNegative('--num-cpus', raw.numCpus);
  if (numGpus !== null && numGpus > 1) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--num-gpus ${numGpus}: a tab drives one WebGPU adapter, so an actor can use at most 1 GPU; use 1, or a fraction to share one`,
    );
  }
  checkServing(raw);
  refuseIgnoredFlags(raw, out);
  if (raw.queue === undefined && (raw.job !== undefined || raw.ackWait !== RUN_DEFAULTS.ackWait)) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `${raw.job !== undefined ? '--job' : '--ack-wait'} needs --queue nats://HOST:PORT (without it the job runs in this process alone)`,
    );
  }
  const queue = raw.queue === undefined ? null : parseQueueUrl(raw.queue);
  if (raw.job !== undefined) jobResources(raw.job);
  if (queue && raw.resume === true && raw.job === undefined)
    throw new TabpoolError('BAD_ARGUMENT', '--resume with --queue needs --job NAME: the name the interrupted run printed');
  const standing = standingPool(raw);
  const ackWaitMs = duration('--ack-wait', raw.ackWait);
  if (ackWaitMs < 1000) throw bad('--ack-wait', raw.ackWait, 'at least 1s');
  let actorConfig: unknown = null;
  if (raw.actorConfig !== undefined) {
    try {
      actorConfig = JSON.parse(raw.actorConfig);
    } catch (err) {
      throw bad('--actor-config', raw.actorConfig, `JSON (${(err as Error).message}), e.g. '{"threshold": 0.5}'`);
    }
  }
  return {
    models: raw.model,
    exifTranspose: raw.exifTranspose === true,
    actor: raw.actor ?? null,
    actorConfig,
    data: raw.data ?? null,
    out,
    format: outputFormatOf(out),
    overwrite: raw.overwrite === true,
    rowsPerPart: raw.rowsPerPart === undefined ? null : int('--rows-per-part', raw.rowsPerPart, 1, 10_000_000),
    batchSize: raw.batchSize.trim() === 'auto' ? 'auto' : int('--batch-size', raw.batchSize, 1, 4096),
    pool: parsePool(raw.pool),
    ep,
    allowSoftwareGpu: raw.allowSoftwareGpu === true,
    launch: int('--launch', raw.launch, 0, 64),
    host: raw.host,
    port: int('--port', raw.port, 0, 65535),
    topK: int('--top-k', raw.topK ?? '5', 1, 1000),
    numGpus,
    numCpus,
    memoryBytes,
    maxTasksInFlight: int('--max-tasks-in-flight', raw.maxTasksInFlight, 1, 64),
    joinTimeoutMs: duration('--join-timeout', raw.joinTimeout),
    stallTimeoutMs: duration('--stall-timeout', raw.stallTimeout),
    batchTimeoutMs: raw.batchTimeout === undefined ? null : duration('--batch-timeout', raw.batchTimeout),
    maxRetries: int('--max-retries', raw.maxRetries, 0, 100),
    verifyRate: fraction('--verify', raw.verify),
    verifyCpu: int('--verify-cpu', raw.verifyCpu, 1, 256),
    maxMessagesPerSecond: int('--max-messages-per-second', raw.maxMessagesPerSecond, 10, 10_000_000),
    heartbeatMs: heartbeat(raw.heartbeat),
    recycle: {
      afterBatches: raw.recycleAfter.trim() === '0' ? null : int('--recycle-after', raw.recycleAfter, 0, 1e9),
      aboveBytes: raw.recycleAbove === undefined ? null : recycleAbove(raw.recycleAbove),
    },
    logits: raw.logits === true,
    resume: raw.resume === true,
    cacheDir: raw.cacheDir,
    token: raw.token ?? null,
    s3Endpoint: raw.s3Endpoint ?? null,
    tls: tlsMode(raw.tls),
    tlsCert: raw.tlsCert ?? null,
    tlsKey: raw.tlsKey ?? null,
    queue,
    job: raw.job ?? null,
    ackWaitMs,
    ...standing,
    quiet: raw.quiet === true,
    json: raw.json === true,
    summaryJson: raw.summaryJson ?? null,
  };
}

/** --on and what goes with it: the submit token, the job's weight and priority; refused where they would do nothing. */
function standingPool(raw: RawRunOptions): { on: string | null; submitToken: string | null; weight: number; priority: number } {
  const weight = Number(raw.weight);
  if (!Number.isFinite(weight) || weight <= 0 || weight > 1e6) throw bad('--weight', raw.weight, 'a positive number, e.g. 1 or 2.5');
  const priority = int('--priority', raw.priority, -1000, 1000);
  if (raw.on === undefined) {
    if (raw.submitToken !== undefined || weight !== 1 || priority !== 0)
      throw new TabpoolError('BAD_ARGUMENT', '--submit-token, --weight and --priority are for a job on a standing pool: add --on URL');
    return { on: null, submitToken: null, weight, priority };
  }
  const on = headOrigin(raw.on);
  if (raw.queue !== undefined)
    throw new TabpoolError(
      'BAD_ARGUMENT',
      '--on runs the job on a standing pool and --queue on NATS; choose one (tabpool serve --queue is the pool on NATS)',
    );
  if (raw.launch !== '0')
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--launch opens tabs for this process, which serves none with --on; launch them on the head (tabpool serve --launch ${raw.launch})`,
    );
  const submitToken = raw.submitToken ?? process.env.TABPOOL_SUBMIT_TOKEN ?? null;
  if (submitToken === null)
    throw new TabpoolError(
      'BAD_ARGUMENT',
      "--on needs the head's submit token: --submit-token TOKEN or TABPOOL_SUBMIT_TOKEN (tabpool serve printed it)",
    );
  return { on, submitToken, weight, priority };
}

function tlsMode(value: string | undefined): 'self-signed' | null {
  if (value === undefined) return null;
  if (value !== 'self-signed') throw bad('--tls', value, 'self-signed (or --tls-cert with --tls-key)');
  return value;
}

/** --recycle-above: a size, at least 64 MiB (a tab holds its model and runtime below that). */
function recycleAbove(value: string): number {
  const bytes = parseSize(value);
  if (bytes === null || bytes < 64 * 2 ** 20) throw bad('--recycle-above', value, 'a size of at least 64MiB, e.g. 3GiB');
  return bytes;
}

/** --heartbeat: at least a second (pings go three times a heartbeat), at most an hour. */
export function heartbeat(value: string): number {
  const ms = duration('--heartbeat', value);
  if (ms < 1000 || ms > 3_600_000) throw bad('--heartbeat', value, 'from 1s to 1h, e.g. 15s');
  return ms;
}
