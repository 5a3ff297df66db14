/**
 * The flags of `tabpool run`, declared once: commander (with extra-typings) infers the raw option
 * types from these declarations, and api/runOptions.ts turns them into checked JobOptions.
 */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';

export const DEFAULT_CACHE = process.env.TABPOOL_CACHE ?? path.join(process.cwd(), '.tabpool');

export function runCommand() {
  return new Command('run')
    .description('run a job: predictions for every input, one row each')
    .option(
      '--model <path|name|NAME=PATH>',
      'an ONNX model, or a built-in: resnet18 (the default classifier), resnet18-tiny, resnet18-features, scorer; ' +
        'for your own actor, repeat it: NAME=PATH gives ctx.models.NAME (any file), a folder gives each of its files ' +
        'by its path inside',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      '--actor <module>',
      'your own actor: a .ts or .js module whose default export is a class with init(ctx) and call(batch) (README: Your own actor)',
    )
    .option('--actor-config <json>', 'JSON passed to your actor as ctx.config')
    .option(
      '--data <dir|manifest>',
      "folder of images (or of any files, for an actor with static inputs = 'file'), or a .txt/.jsonl/.csv manifest " +
        '(default: the built-in 256-image sample)',
    )
    .option(
      '--exif-transpose',
      "turn each image upright by its EXIF orientation first, as Pillow's ImageOps.exif_transpose (default: as " +
        "stored, as Image.open, torchvision's decode_jpeg and Ray's read_images give it)",
    )
    .option('--out <file>', 'output: a .jsonl or .csv file, or a .parquet dataset (a directory of part files)', 'predictions.jsonl')
    .option('--overwrite', 'replace --out if it exists')
    .option(
      '--rows-per-part <n>',
      'with a .parquet --out: rows per part file (default 20000; fewer with --logits), a part also closing 10 s after its first row',
    )
    .option('--resume', 'continue an interrupted job: skip ids already in --out')
    .option(
      '--batch-size <n|auto>',
      "images per batch: auto sizes each actor's batches to its measured speed (about 1.5 s of its work); " +
        "N fixes it, as Ray's batch_size does",
      'auto',
    )
    .option('--pool <n|min..max>', 'actors: a fixed N, or MIN..MAX to grow as tabs join', '1..8')
    .option('--ep <auto|webgpu|wasm>', 'execution provider; auto = WebGPU on a hardware GPU, else wasm', 'auto')
    .option('--allow-software-gpu', 'accept a software WebGPU adapter (SwiftShader) as a GPU')
    .option('--launch <k>', 'open K local headless Chromium tabs (0 = wait for browsers to join)', '0')
    .option('--host <host>', 'address to listen on (0.0.0.0 for other machines: use TLS)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '0')
    .option('--top-k <k>', 'classes per row (the built-in classifier; default 5)')
    .option('--num-gpus <x>', 'GPUs each actor reserves on its host (fractions share: 0.5 = two per GPU); default 1 on webgpu, 0 on wasm')
    .option(
      '--num-cpus <x>',
      'CPUs each actor reserves, and its wasm thread count (default: 1 to be placed, 0 held, as Ray does for actors; 1 thread)',
    )
    .option('--memory <size>', 'memory each actor reserves, e.g. 5GiB (default: estimated from the model and batch size)')
    .option('--max-tasks-in-flight <n>', 'batches an actor holds at once (the next travels while one computes)', '2')
    .option('--join-timeout <duration>', 'give up when no actor is ready for this long', '120s')
    .option(
      '--stall-timeout <duration>',
      'inputs waiting, actors ready and nothing in flight this long: say why in the log and status; twice ' +
        'this long: fail with STALLED (resumable)',
      '5m',
    )
    .option(
      '--batch-timeout <duration>',
      'evict an actor that holds a batch this long (default: 10× its own measured batch time, at least 60s; 10 min before its first batch)',
    )
    .option(
      '--verify <rate>',
      "share of each actor's batches the coordinator also computes with its own model to catch lying tabs " +
        '(new actors: always); 0 trusts the tabs, 1 checks every input',
      '0.05',
    )
    .option(
      '--verify-cpu <n>',
      "cores the coordinator's own copy of the actor may use: it decides when two tabs' answers differ, and checks " +
        'where no other host has an actor (checks run on actors of other hosts first)',
      '1',
    )
    .option(
      '--recycle-after <batches>',
      'each tab starts its actor afresh (a new worker, the model from its cache) after this many batches, between ' +
        'batches: ORT-web never gives wasm memory back; 0 = never',
      '10000',
    )
    .option(
      '--recycle-above <size>',
      "also when the tab's page holds more than this, e.g. 3GiB (measured where the browser can: Chromium, cross-origin isolated)",
    )
    .option('--max-retries <n>', 'failures before a batch is split, and an input given an error row', '3')
    .option('--max-messages-per-second <n>', 'a client sending more than this is cut off as a flood', '2000')
    .option(
      '--heartbeat <duration>',
      'a tab silent this long (no message, no answer to pings: a closed lid, a frozen browser) is dropped; its batches run elsewhere',
      '15s',
    )
    .option('--logits', 'write the full logits vector in each row')
    .option('--cache-dir <dir>', 'where the built-in model and sample data are kept', DEFAULT_CACHE)
    .option('--token <token>', 'join token (default: random per job)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint for s3:// inputs (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .addOption(
      new Option(
        '--tls <mode>',
        "serve https with a certificate tabpool makes for this machine's names and addresses (kept in the " +
          'cache, reused), and print its fingerprint',
      ).choices(['self-signed'] as const),
    )
    .option('--tls-cert <file>', 'serve https with this certificate (remote browsers need it for WebGPU)')
    .option('--tls-key <file>', 'private key for --tls-cert')
    .option(
      '--queue <nats://host:port>',
      'run on NATS JetStream: batches go on a queue that gateways (tabpool gateway) on other machines take ' +
        'from; this process serves tabs too',
    )
    .option('--job <name>', "with --queue: the job's name, for gateways and --resume (default: a fresh name, printed)")
    .option('--ack-wait <duration>', 'with --queue: a batch whose gateway shows no sign of life this long goes to another gateway', '30s')
    .option(
      '--on <url>',
      'run on a standing pool (tabpool serve at URL): its tabs serve the job; the data is read and the output ' +
        'written here, as without --on',
    )
    .option('--submit-token <token>', "with --on: the head's submit token (default: TABPOOL_SUBMIT_TOKEN)")
    .option('--weight <w>', "with --on: this job's share of the pool's actors beyond every job's minimum, relative to the others'", '1')
    .option('--priority <p>', 'with --on: a job waiting for actors gets the next one freed, highest priority first (-1000..1000)', '0')
    .option('--quiet', 'no live view or actor logs; only the summary')
    .option('--json', 'print the summary as one JSON object on stdout (logs stay on stderr)')
    .option('--summary-json <file>', 'also write the summary as JSON to this file');
}

/** The raw option values commander hands the action: strings and booleans, as typed from the flags above. */
export type RunFlags = ReturnType<ReturnType<typeof runCommand>['opts']>;
