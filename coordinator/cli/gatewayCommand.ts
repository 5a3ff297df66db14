/**
 * `tabpool gateway --queue nats://HOST:PORT --job NAME`: serves the worker page and sockets for its
 * own tabs (launched here, or any browser that opens its URL), and feeds them batches from the job's
 * queue on NATS JetStream. It prints its worker URL as `run` does, its actors' counts as they go,
 * and exits when the job is done (0) or failed (1); Ctrl-C (or SIGTERM) hands its batches back
 * and exits 130.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import { ensureChromium } from '../browser/getBrowser.ts';
import { launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { Gateway } from '../queue/gateway.ts';
import { connectQueue, readContent, readState, waitForSpec, type QueueJob } from '../queue/jobStore.ts';
import { actorClassOf, rowRules } from '../actor/actorFromContent.ts';
import { maxAnswerBytes, servedFiles, tabSpecFor } from '../actor/tabSpec.ts';
import { jobResources, parseQueueUrl } from '../queue/names.ts';
import { jobStatus } from '../job/jobStatus.ts';
import { newJobStats } from '../job/jobStats.ts';
import type { CoordinatorServer } from '../server/httpServer.ts';
import { EXIT, exitCodeFor } from '../api/exitCodes.ts';
import { DEFAULT_CACHE } from '../api/runFlags.ts';
import { checkServing, duration, heartbeat, int } from '../api/runOptions.ts';
import { serveTabs } from '../api/serveTabs.ts';

export function gatewayCommand() {
  return new Command('gateway')
    .description("serve tabs for a job on NATS JetStream (started by tabpool run --queue): its tabs take batches from the job's queue")
    .requiredOption('--queue <nats://host:port>', 'the NATS server (or cluster, comma-separated) the job runs on')
    .requiredOption('--job <name>', "the job's name, as tabpool run printed it")
    .option('--launch <k>', 'open K local headless Chromium tabs (0 = wait for browsers to join)', '0')
    .option('--host <host>', 'address to listen on (0.0.0.0 for other machines: use TLS)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '0')
    .addOption(
      new Option('--tls <mode>', 'serve https with a certificate tabpool makes for this machine').choices(['self-signed'] as const),
    )
    .option('--tls-cert <file>', 'serve https with this certificate')
    .option('--tls-key <file>', 'private key for --tls-cert')
    .option('--wait <duration>', 'how long to wait for tabpool run to publish the job', '120s')
    .option('--max-messages-per-second <n>', 'a client sending more than this is cut off as a flood', '2000')
    .option('--heartbeat <duration>', 'a tab silent this long is dropped; its batches go to other actors', '15s')
    .option('--cache-dir <dir>', 'where the TLS certificate is kept', DEFAULT_CACHE)
    .option('--token <token>', 'join token (default: random)')
    .option('--quiet', 'no actor logs; only the worker URL and the end');
}

export type GatewayFlags = ReturnType<ReturnType<typeof gatewayCommand>['opts']>;

export async function runGateway(f: GatewayFlags, signal?: AbortSignal): Promise<number> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const log = (line: string): void => void (f.quiet ? undefined : process.stderr.write(`${line}\n`));
  let q: QueueJob | null = null;
  let gateway: Gateway | null = null;
  let server: CoordinatorServer | null = null;
  let launching: Promise<LaunchedTabs> | null = null;
  let ticker: NodeJS.Timeout | null = null;
  try {
    const servers = parseQueueUrl(f.queue);
    jobResources(f.job);
    const launch = int('--launch', f.launch, 0, 64);
    const port = int('--port', f.port, 0, 65535);
    const waitMs = duration('--wait', f.wait);
    const heartbeatMs = heartbeat(f.heartbeat);
    checkServing(f);
    if (launch > 0) await ensureChromium((line) => void process.stderr.write(`${line}\n`));

    q = await connectQueue(servers, f.job);
    const spec = await waitForSpec(q, waitMs);
    if (!spec)
      throw new TabpoolError(
        'JOB_FAILED',
        `no job ${f.job} on ${servers.join(',')} after ${(waitMs / 1000).toFixed(0)}s: start it with tabpool ` +
          `run --queue ${servers.join(',')} --job ${f.job}, or check the name`,
      );
    const first = await readState(q);
    if (first.phase === 'done') {
      say(`gateway: job ${f.job} is already done; nothing to serve`);
      return EXIT.ok;
    }
    const cacheDir = path.resolve(f.cacheDir);
    const content = await readContent(q, spec, cacheDir);
    const cls = await actorClassOf(content);
    const webRoot = await ensureWebBuild();
    const token = f.token ?? randomBytes(18).toString('base64url');
    const gatewayId = `gw-${randomBytes(3).toString('hex')}`;
    const jobSpec = tabSpecFor(content, token, {
      numThreads: spec.tab.numThreads,
      allowSoftwareGpu: spec.tab.allowSoftwareGpu,
      recycle: spec.tab.recycle,
    });
    const running = new Gateway({ q, spec, gatewayId, jobSpec, rules: rowRules(cls, content), log });
    gateway = running;
    await running.start();
    const stats = newJobStats(Date.now(), 0, 0);
    const served = await serveTabs(
      {
        host: f.host,
        port,
        tls: f.tls ?? null,
        tlsCert: f.tlsCert ?? null,
        tlsKey: f.tlsKey ?? null,
        maxMessagesPerSecond: int('--max-messages-per-second', f.maxMessagesPerSecond, 10),
        heartbeatMs,
        qr: process.stderr.isTTY === true && f.quiet !== true,
      },
      {
        cacheDir,
        token,
        webRoot,
        maxPayload: maxAnswerBytes(content.columns, spec.maxBatch),
        files: servedFiles(content),
        status: (join) => {
          stats.done = running.counts.inputs;
          return jobStatus(
            {
              host: running.host,
              stats,
              settings: { pool: spec.pool, verifyRate: 0, batchSize: spec.batchSize, heartbeatMs },
              actor: { name: spec.modelName, inputs: spec.tab.inputs, files: spec.tab.files },
              output: null,
              isFinished: running.phase === 'done',
            },
            join,
          );
        },
        target: () => running,
        log,
      },
    );
    server = served.server;
    say(
      `gateway ${gatewayId}: job ${f.job} on ${servers.join(',')}: ${spec.modelName}, pool ` +
        `${spec.pool.min}..${spec.pool.max} across every gateway`,
    );
    say(served.banner.join('\n'));
    for (const line of served.notes) log(line);

    // Ends when the job does, or on Ctrl-C.
    const end = await new Promise<'done' | 'failed' | 'interrupted' | 'stalled'>((resolve) => {
      let last = '';
      ticker = setInterval(() => {
        const ready = running.host.pool.ready().length;
        const line =
          `gateway ${gatewayId}: ${ready} actor(s) ready here, ${running.global.readyCount()} in the job; ` +
          `${running.counts.units} batches, ${running.counts.inputs} images done here; ${running.counts.givenBack} handed back`;
        if (line !== last) say(line);
        last = line;
        if (running.phase === 'done' || running.phase === 'failed') resolve(running.phase);
        if (running.failure) resolve('stalled');
      }, 1000);
      const onSigint = (): void => resolve('interrupted');
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      signal?.addEventListener('abort', onSigint);
      if (launch > 0) {
        launching = launchTabs(launch, served.workerUrl, { acceptSelfSigned: served.tls }, (i, line) => {
          if (/error|fail/i.test(line)) log(`tab ${i}: ${line}`);
        });
        launching.catch((err: unknown) => {
          log(`launching tabs failed: ${(err as Error).message}`);
          resolve('failed');
        });
      }
    });
    if (end === 'stalled') throw running.failure!;
    const ending =
      end === 'done'
        ? 'the job is done'
        : end === 'failed'
          ? `the job failed: ${(await readState(q)).reason ?? 'see tabpool run'}`
          : 'interrupted; its batches are handed back to the queue';
    say(`gateway ${gatewayId}: ${ending}; ${running.counts.inputs} inputs done here`);
    return end === 'done' ? EXIT.ok : end === 'failed' ? EXIT.failed : EXIT.interrupted;
  } catch (e) {
    const error = serializeError(e, 'JOB_FAILED');
    process.stderr.write(`tabpool gateway: ${formatError(error)}\n`);
    return exitCodeFor(error.code);
  } finally {
    if (ticker) clearInterval(ticker);
    // Tabs first (their actors leave the job's pool), then the gateway (its batches go back), then NATS.
    await (launching as Promise<LaunchedTabs> | null)?.then(
      (l) => l.close(),
      () => undefined,
    );
    await server?.close();
    await gateway?.stop().catch(() => undefined);
    await q?.nc.drain().catch(() => undefined);
  }
}
