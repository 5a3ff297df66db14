/**
 * `tabpool serve`: a standing pool. Tabs open its worker URL once and stay joined between jobs;
 * jobs come from `tabpool run --on URL` (with the submit token it prints) and go. It runs until
 * Ctrl-C or SIGTERM; its --state keeps the tokens and jobs across a restart, so tabs and
 * submitting processes reconnect by themselves. `tabpool jobs` and `tabpool cancel` talk to it.
 */
import { Command } from '@commander-js/extra-typings';
import { formatError, serializeError, TabpoolError } from '../../shared/errors.ts';
import { EXIT, exitCodeFor } from '../api/exitCodes.ts';
import { checkServing, duration, heartbeat, int } from '../options/runOptions.ts';
import { ensureChromium } from '../browser/getBrowser.ts';
import { startHead } from '../head/startHead.ts';
import { parseQueueUrl } from '../queue/names.ts';
import { QueuePool } from '../modes/queuePool.ts';
import { KEEP_FINISHED } from '../head/headState.ts';
import { serving } from './servingFlags.ts';
import { untilInterrupted } from './signals.ts';
import path from 'node:path';

export function serveCommand() {
  return new Command('serve')
    .description('a standing pool: tabs join once and stay; jobs run on it with tabpool run --on URL')
    .addOption(serving.host())
    .addOption(serving.port())
    .addOption(serving.tls())
    .addOption(serving.tlsCert())
    .addOption(serving.tlsKey())
    .option(
      '--state <dir>',
      'where the tokens, the jobs and their files are kept; the same --state after a restart loses nothing',
      '.tabpool/head',
    )
    .addOption(serving.token('join token: it lets a browser serve (default: random, kept in --state)'))
    .option('--submit-token <token>', 'submit token: it lets tabpool run --on, jobs and cancel in (default: random, kept in --state)')
    .addOption(serving.launch('open K local headless Chromium tabs that join the pool'))
    .option('--submitter-timeout <duration>', 'a job whose submitting process is gone this long fails (resumable with --resume)', '60s')
    .addOption(serving.maxMessagesPerSecond())
    .addOption(serving.heartbeat())
    .option('--max-upload <bytes>', 'largest model or actor module a job may upload', String(4 * 2 ** 30))
    .option(
      '--queue <nats://host:port>',
      'also serve every job put on this NATS JetStream queue (tabpool run --queue): the same standing pool, across machines',
    )
    .addOption(serving.cacheDir("where a queue job's files and actor are kept"))
    .addOption(serving.quiet('no pool logs; only the URLs'));
}

export type ServeFlags = ReturnType<ReturnType<typeof serveCommand>['opts']>;

export async function runServe(f: ServeFlags, signal?: AbortSignal): Promise<number> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const log = (line: string): void => void (f.quiet ? undefined : process.stderr.write(`${line}\n`));
  try {
    checkServing(f);
    if (f.submitToken !== undefined) checkServing({ token: f.submitToken });
    const launch = int('--launch', f.launch, 0, 64);
    const queue = f.queue === undefined ? null : parseQueueUrl(f.queue);
    if (launch > 0) await ensureChromium(log);
    const head = await startHead(
      {
        host: f.host,
        port: int('--port', f.port, 0, 65535),
        tls: f.tls ?? null,
        tlsCert: f.tlsCert ?? null,
        tlsKey: f.tlsKey ?? null,
        stateDir: f.state,
        token: f.token ?? null,
        submitToken: f.submitToken ?? null,
        launch,
        submitterTimeoutMs: duration('--submitter-timeout', f.submitterTimeout),
        maxMessagesPerSecond: int('--max-messages-per-second', f.maxMessagesPerSecond, 10, 10_000_000),
        heartbeatMs: heartbeat(f.heartbeat),
        maxUploadBytes: int('--max-upload', f.maxUpload, 1, Number.MAX_SAFE_INTEGER),
      },
      log,
    );
    say(`tabpool serve: a standing pool at ${head.origin}`);
    say(
      `state: ${path.resolve(f.state)} (its tokens, its jobs (the running ones and the last ${KEEP_FINISHED} ` +
        `finished) and their files; the same --state after a restart loses nothing)`,
    );
    say(`join (open in any browser; tabs stay joined between jobs):`);
    for (const u of head.workerUrls) say(`  ${u}`);
    say(`submit token: ${head.submitToken}`);
    say(`  run a job on it: tabpool run --on ${head.origin} --submit-token ${head.submitToken} …`);
    say(`  list and cancel: tabpool jobs --on ${head.origin}; tabpool cancel JOB --on ${head.origin}`);
    say(`status page: ${head.statusUrl}`);
    let queued: QueuePool | null = null;
    if (queue) {
      queued = new QueuePool({ servers: queue, head, cacheDir: path.resolve(f.cacheDir), log });
      await queued.start().catch(async (err: unknown) => {
        await head.close();
        throw new TabpoolError('JOB_FAILED', (err as Error).message);
      });
      say(`serving every job on the queue at ${queue.join(',')} (tabpool run --queue ${queue.join(',')} …)`);
    }
    await untilInterrupted(new Promise<never>(() => undefined), signal);
    log('tabpool serve: stopping; tabs rejoin when it is started again with the same --state');
    await queued?.stop();
    await head.close();
    return EXIT.ok;
  } catch (err) {
    const e = serializeError(err, 'BAD_ARGUMENT');
    process.stderr.write(`tabpool serve: ${formatError(e)}\n`);
    return exitCodeFor(e.code);
  }
}
