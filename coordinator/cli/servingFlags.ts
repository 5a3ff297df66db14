/**
 * The flags every command that serves tabs takes (`run`, `gateway`, `serve`), declared once: each
 * command adds the ones it has (`.addOption(serving.host())`), with its own wording where the
 * meaning differs (`serve`'s token is kept in --state). Defaults are options/rawOptions.ts's.
 */
import { Option } from '@commander-js/extra-typings';
import { DEFAULT_CACHE, RUN_DEFAULTS } from '../options/rawOptions.ts';

export const serving = {
  launch: (what = 'open K local headless Chromium tabs (0 = wait for browsers to join)') =>
    new Option('--launch <k>', what).default(RUN_DEFAULTS.launch),
  host: () => new Option('--host <host>', 'address to listen on (0.0.0.0 for other machines: use TLS)').default(RUN_DEFAULTS.host),
  port: () => new Option('--port <port>', 'port to listen on (0 = any free port)').default(RUN_DEFAULTS.port),
  tls: () =>
    new Option(
      '--tls <mode>',
      "serve https with a certificate tabpool makes for this machine's names and addresses (kept in the cache, reused), " +
        'and print its fingerprint',
    ).choices(['self-signed'] as const),
  tlsCert: () => new Option('--tls-cert <file>', 'serve https with this certificate (remote browsers need it for WebGPU)'),
  tlsKey: () => new Option('--tls-key <file>', 'private key for --tls-cert'),
  token: (what = 'join token (default: random per job)') => new Option('--token <token>', what),
  maxMessagesPerSecond: () =>
    new Option('--max-messages-per-second <n>', 'a client sending more than this is cut off as a flood').default(
      RUN_DEFAULTS.maxMessagesPerSecond,
    ),
  heartbeat: () =>
    new Option(
      '--heartbeat <duration>',
      'a tab silent this long (no message, no answer to pings: a closed lid, a frozen browser) is dropped; its batches run elsewhere',
    ).default(RUN_DEFAULTS.heartbeat),
  cacheDir: (what: string) => new Option('--cache-dir <dir>', what).default(DEFAULT_CACHE),
  quiet: (what: string) => new Option('--quiet', what),
};
