/**
 * `tabpool gateway --queue nats://HOST:PORT --job NAME`: serves the worker page and sockets for its
 * own tabs (launched here, or any browser that opens its URL), and feeds them batches from the job's
 * queue on NATS JetStream (modes/gatewayMode.ts). It prints its worker URL as `run` does, its
 * actors' counts as they go, and exits when the job is done (0) or failed (1); Ctrl-C (or SIGTERM)
 * hands its batches back and exits 130.
 */
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { formatError, serializeError } from '../../shared/errors.ts';
import { ensureChromium } from '../browser/getBrowser.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { maxAnswerBytes, servedFiles } from '../actor/tabSpec.ts';
import { gatewayMode } from '../modes/gatewayMode.ts';
import type { OpenedMode } from '../modes/jobMode.ts';
import { servedHere } from '../modes/servedHere.ts';
import type { Gateway } from '../queue/gateway.ts';
import { jobResources, parseQueueUrl } from '../queue/names.ts';
import { EXIT, exitCodeFor } from '../api/exitCodes.ts';
import { checkServing, duration, heartbeat, int } from '../options/runOptions.ts';
import { joinBanner } from './joinBanner.ts';
import { serving } from './servingFlags.ts';
import { untilInterrupted } from './signals.ts';

export function gatewayCommand() {
  return new Command('gateway')
    .description("serve tabs for a job on NATS JetStream (started by tabpool run --queue): its tabs take batches from the job's queue")
    .requiredOption('--queue <nats://host:port>', 'the NATS server (or cluster, comma-separated) the job runs on')
    .requiredOption('--job <name>', "the job's name, as tabpool run printed it")
    .addOption(serving.launch())
    .addOption(serving.host())
    .addOption(serving.port())
    .addOption(serving.tls())
    .addOption(serving.tlsCert())
    .addOption(serving.tlsKey())
    .option('--wait <duration>', 'how long to wait for tabpool run to publish the job', '120s')
    .addOption(serving.maxMessagesPerSecond())
    .addOption(serving.heartbeat())
    .addOption(serving.cacheDir("where the job's files and the TLS certificate are kept"))
    .addOption(serving.token('join token (default: random)'))
    .addOption(serving.quiet('no actor logs; only the worker URL and the end'));
}

export type GatewayFlags = ReturnType<ReturnType<typeof gatewayCommand>['opts']>;

/** The gateway's settings, checked before anything starts (exit 2 on a bad one). */
function settings(f: GatewayFlags) {
  checkServing(f);
  jobResources(f.job);
  return {
    servers: parseQueueUrl(f.queue),
    launch: int('--launch', f.launch, 0, 64),
    port: int('--port', f.port, 0, 65535),
    waitMs: duration('--wait', f.wait),
    heartbeatMs: heartbeat(f.heartbeat),
    maxMessagesPerSecond: int('--max-messages-per-second', f.maxMessagesPerSecond, 10),
    cacheDir: path.resolve(f.cacheDir),
  };
}

export async function runGateway(f: GatewayFlags, signal?: AbortSignal): Promise<number> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const log = (line: string): void => void (f.quiet ? undefined : process.stderr.write(`${line}\n`));
  let opened: OpenedMode<Gateway> | null = null;
  let ticker: NodeJS.Timeout | null = null;
  try {
    const s = settings(f);
    if (s.launch > 0) await ensureChromium(log);
    const webRoot = await ensureWebBuild();
    const mode = gatewayMode({
      ...s,
      job: f.job,
      log,
      tabs: (content, spec) =>
        servedHere({
          ...s,
          host: f.host,
          tls: f.tls ?? null,
          tlsCert: f.tlsCert ?? null,
          tlsKey: f.tlsKey ?? null,
          token: f.token ?? null,
          webRoot,
          maxPayload: maxAnswerBytes(content.columns, spec.maxBatch),
          files: servedFiles(content),
          log,
        }),
    });
    opened = await mode.open();
    const gateway = opened.job;
    const started = await opened.started;
    const pool = gateway.spec.pool;
    say(`gateway: job ${f.job} on ${s.servers.join(',')}: ${gateway.spec.modelName}, pool ${pool.min}..${pool.max} across every gateway`);
    const qr = process.stderr.isTTY === true && f.quiet !== true && started.reachable;
    say(joinBanner({ ...started.join, statusUrl: started.statusUrl!, qr }).join('\n'));
    for (const line of started.notes) log(line);
    let last = '';
    ticker = setInterval(() => {
      const c = gateway.counts;
      const line =
        `gateway: ${gateway.host.pool.ready().length} actor(s) ready here, ${gateway.global.readyCount()} in the job; ` +
        `${c.units} batches, ${c.inputs} images done here; ${c.givenBack} handed back`;
      if (line !== last) say(line);
      last = line;
    }, 1000);
    const end = await untilInterrupted(gateway.ended, signal);
    const ending =
      end === 'done'
        ? 'the job is done'
        : end === 'failed'
          ? `the job failed: ${gateway.jobState.reason ?? 'see tabpool run'}`
          : 'interrupted; its batches are handed back to the queue';
    say(`gateway: ${ending}; ${gateway.counts.inputs} inputs done here`);
    return end === 'done' ? EXIT.ok : end === 'failed' ? EXIT.failed : EXIT.interrupted;
  } catch (e) {
    const error = serializeError(e, 'JOB_FAILED');
    process.stderr.write(`tabpool gateway: ${formatError(error)}\n`);
    return exitCodeFor(error.code);
  } finally {
    if (ticker) clearInterval(ticker);
    await opened?.close({ status: 'interrupted', message: 'the gateway stopped' });
  }
}
