/**
 * `s3://bucket/key` inputs: given to tabs as presigned GET URLs, so the bytes go from the bucket to
 * the tab and never through the coordinator. Credentials come from the usual AWS chain
 * (environment, shared config, SSO, instance roles); --s3-endpoint (or AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL) points at an S3-compatible store, addressed path-style.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { TabpoolError } from '../../shared/errors.ts';

/** How long a presigned URL stays valid: inputs wait in the queue minutes, retries may come later. */
const EXPIRES_SECONDS = 6 * 3600;

export interface S3Location {
  bucket: string;
  key: string;
}

export function parseS3(source: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(source);
  if (!m) throw new TabpoolError('BAD_MANIFEST', `${source} is not an s3://bucket/key address`);
  return { bucket: m[1]!, key: m[2]! };
}

export interface S3Settings {
  endpoint: string | null;
  region: string;
}

export function s3Settings(endpoint: string | null, env: NodeJS.ProcessEnv = process.env): S3Settings {
  return {
    endpoint: endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? null,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  };
}

/**
 * A resolver from s3:// to a presigned https URL (http(s) sources pass through). It checks, once,
 * that credentials can be found, so a job with S3 inputs and no credentials fails before any
 * browser starts, saying where credentials are looked for.
 */
export async function s3UrlResolver(settings: S3Settings): Promise<(source: string) => Promise<string>> {
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
  });
  try {
    await client.config.credentials();
  } catch (err) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `the dataset names s3:// inputs but no AWS credentials were found (${(err as Error).message}); set ` +
        `AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and --s3-endpoint for an S3-compatible store`,
    );
  }
  return async (source) => {
    if (!/^s3:\/\//i.test(source)) return source;
    const { bucket, key } = parseS3(source);
    return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: EXPIRES_SECONDS });
  };
}
