/**
 * A job's resources on NATS JetStream, by the job's name: the work stream (a work queue of batches,
 * one consumer shared by every gateway), the results stream, and the key-value buckets and object
 * store the processes of one job share.
 */
import { TabpoolError } from '../../shared/errors.ts';

export interface JobResources {
  job: string;
  workStream: string;
  workSubject: string;
  /** The durable pull consumer every gateway takes batches from. */
  workConsumer: string;
  resultsStream: string;
  resultsSubject: string;
  /** The durable consumer `run` collects results with. */
  resultsConsumer: string;
  /** Job spec, state (running, draining, done), the publish cursor, barred hosts. */
  stateBucket: string;
  /** In-flight batches: unit id → its inputs (so a restarted `run` can check results against them). */
  unitsBucket: string;
  /** The global pool: every actor of the job, wherever it is served. */
  poolBucket: string;
  /** Gateways alive (each key expires unless refreshed). */
  gatewaysBucket: string;
  /** The model file, and inputs too large for one message. */
  blobStore: string;
}

const NAME = /^[A-Za-z0-9_-]{1,48}$/;

export function jobResources(job: string): JobResources {
  if (!NAME.test(job))
    throw new TabpoolError('BAD_ARGUMENT', `--job ${JSON.stringify(job)} is not valid: expected 1 to 48 characters from A-Z a-z 0-9 _ -`);
  const up = job.toUpperCase().replaceAll('-', '_');
  return {
    job,
    workStream: `TABPOOL_${up}_WORK`,
    workSubject: `tabpool.${job}.work`,
    workConsumer: 'gateways',
    resultsStream: `TABPOOL_${up}_RESULTS`,
    resultsSubject: `tabpool.${job}.results`,
    resultsConsumer: 'run',
    stateBucket: `tabpool_${job}_state`,
    unitsBucket: `tabpool_${job}_units`,
    poolBucket: `tabpool_${job}_pool`,
    gatewaysBucket: `tabpool_${job}_gateways`,
    blobStore: `tabpool_${job}_blobs`,
  };
}

/** `nats://host:port` (or tls://, comma-separated for a cluster), checked before anything connects. */
export function parseQueueUrl(value: string): string[] {
  const servers = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of servers) {
    if (!/^(nats|tls|wss?):\/\/[^/\s]+$/.test(s))
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--queue ${JSON.stringify(value)} is not valid: expected nats://HOST:PORT (several separated by commas for a cluster)`,
      );
  }
  if (servers.length === 0) throw new TabpoolError('BAD_ARGUMENT', '--queue needs a server, e.g. nats://127.0.0.1:4222');
  return servers;
}
