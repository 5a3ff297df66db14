/**
 * s3:// inputs: presigned with the AWS SDK, checked here against the SigV4 specification by an
 * independent implementation (the local S3-compatible server, s3rver, accepts any signature), and
 * run end to end against that server: the actors fetch from the store, the coordinator sends no
 * image bytes, and the rows are the reference's.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { parseS3, s3UrlResolver } from '../../../coordinator/io/s3Inputs.ts';
import { CACHE_DIR, startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const KEY_ID = 'S3RVER';
const SECRET = 'S3RVER';
let tmp: string;
let server: S3rver;
let endpoint: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-s3-'));
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 'store') });
  endpoint = `http://127.0.0.1:${((await server.run()) as AddressInfo).port}`;
});

after(async () => {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

const env = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_REGION: 'us-east-1' };

/** AWS Signature Version 4 for a presigned GET (query-string auth), from the published specification. */
function expectedSignature(url: URL, secret: string): string {
  const q = url.searchParams;
  const [, date, region, service] = q.get('X-Amz-Credential')!.split('/');
  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = ['GET', url.pathname, canonicalQuery, `host:${url.host}\n`, q.get('X-Amz-SignedHeaders'), 'UNSIGNED-PAYLOAD'].join(
    '\n',
  );
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', q.get('X-Amz-Date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(toSign).digest('hex');
}

test('presigns s3://bucket/key as a path-style SigV4 GET that the specification accepts', async () => {
  Object.assign(process.env, env);
  const resolve = await s3UrlResolver({ endpoint, region: 'us-east-1' });
  const url = new URL(await resolve('s3://images/deep/key with space.png'));
  assert.equal(url.origin, endpoint);
  assert.equal(url.pathname, '/images/deep/key%20with%20space.png');
  assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  assert.match(url.searchParams.get('X-Amz-Credential')!, /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);
  assert.equal(Number(url.searchParams.get('X-Amz-Expires')), 6 * 3600);
  assert.equal(url.searchParams.get('X-Amz-Signature'), expectedSignature(url, SECRET));
  assert.notEqual(url.searchParams.get('X-Amz-Signature'), expectedSignature(url, 'another secret'));
  assert.equal(await resolve('https://example.com/a.png'), 'https://example.com/a.png', 'http(s) passes through');
  assert.deepEqual(parseS3('s3://b/k/x.png'), { bucket: 'b', key: 'k/x.png' });
});

test(
  'a job over s3:// inputs on an S3-compatible store: actors fetch presigned URLs and the coordinator ' + 'sends no image bytes',
  async () => {
    const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
    const files = await writeTestPngs(path.join(tmp, 'images'), 12, 64, 64, 91);
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    for (const f of files) await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: `set/${f.id}`, Body: await fs.readFile(f.path) }));
    const manifest = path.join(tmp, 'manifest.jsonl');
    await fs.writeFile(manifest, files.map((f) => JSON.stringify({ id: f.id, path: `s3://photos/set/${f.id}` })).join('\n') + '\n');
    const out = path.join(tmp, 'out.jsonl');
    const summary = path.join(tmp, 'summary.json');
    const c = await startCoordinator(
      jobArgv({ model: 'resnet18-tiny', data: manifest, out, batchSize: 4, pool: 2, s3Endpoint: endpoint, summaryJson: summary }),
      { env },
    );
    const actors = await startActors(c.workerUrl, 2, { mode: 'real' });
    assert.equal(await c.exited, 0, c.stderr());
    assert.deepEqual(
      actors.actors.flatMap((a) => a.problems),
      [],
    );
    await assertCompleteAndCorrect(out, files, await referencePredictions(model.path, files));
    const s = JSON.parse(await fs.readFile(summary, 'utf8')) as { wire: { fileBytesPerImage: number } };
    assert.equal(s.wire.fileBytesPerImage, 0);
  },
);

test('s3:// inputs without credentials fail before anything starts, exit 2, saying where credentials are looked for', async () => {
  const manifest = path.join(tmp, 'nocreds.txt');
  await fs.writeFile(manifest, 's3://photos/set/t000.png\n');
  const c = await startCoordinator(
    jobArgv({ model: 'resnet18-tiny', data: manifest, out: path.join(tmp, 'x.jsonl'), s3Endpoint: endpoint }),
    {
      env: {
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: 'tabpool-no-such-profile',
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    },
  ).catch((err: Error) => err);
  assert.ok(c instanceof Error, 'the coordinator must not start listening');
  assert.match(c.message, /exited 2 before listening/);
  assert.match(c.message, /BAD_ARGUMENT: the dataset names s3:\/\/ inputs but no AWS credentials were found/);
});
