/**
 * The flags of `tabpool run`, declared once: commander (with extra-typings) infers the raw option
 * types from these declarations, which must fit options/rawOptions.ts (checked below, at compile
 * time), and options/runOptions.ts turns them into checked JobOptions. Their defaults are
 * RUN_DEFAULTS (the API starts from the same); the serving flags are servingFlags.ts's.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { RUN_DEFAULTS, type RawRunOptions } from '../options/rawOptions.ts';
import { serving } from './servingFlags.ts';

export { DEFAULT_CACHE } from '../options/rawOptions.ts';

export function runCommand() {
  return new Command('run')
    .description('run a job: predictions for every input, one row each')
    .option(
      '--model <path|name|NAME=PATH>',
      'an ONNX model, or a built-in: resnet18 (the default classifier), resnet18-tiny, resnet18-features, scorer; ' +
        'for your own actor, repeat it: NAME=PATH gives ctx.models.NAME (any file), a folder gives each of its files ' +
        'by its path inside',
      (value: string, previous: string[]) => [...previous, value],
      [...RUN_DEFAULTS.model],
    )
    .option(
      '--actor <module>',
      'your own actor: a .ts or .js module whose default export is a class with init(ctx) and call(batch) (docs: guide/actors.md); ' +
        'or generate, the built-in text generator, on --model DIR of a language model (docs: guide/generation.md)',
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
    .option('--out <file>', 'output: a .jsonl or .csv file, or a .parquet dataset (a directory of part files)', RUN_DEFAULTS.out)
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
      RUN_DEFAULTS.batchSize,
    )
    .option('--pool <n|min..max>', 'actors: a fixed N, or MIN..MAX to grow as tabs join', RUN_DEFAULTS.pool)
    .option('--ep <auto|webgpu|wasm>', 'execution provider; auto = WebGPU on a hardware GPU, else wasm', RUN_DEFAULTS.ep)
    .option('--allow-software-gpu', 'accept a software WebGPU adapter (SwiftShader) as a GPU')
    .addOption(serving.launch())
    .addOption(serving.host())
    .addOption(serving.port())
    .option('--top-k <k>', 'classes per row (the built-in classifier; default 5)')
    .option('--num-gpus <x>', 'GPUs each actor reserves on its host (fractions share: 0.5 = two per GPU); default 1 on webgpu, 0 on wasm')
    .option(
      '--num-cpus <x>',
      'CPUs each actor reserves, and its wasm thread count (default: 1 to be placed, 0 held, as Ray does ' +
        "for actors; threads: its share of its host's cores)",
    )
    .option('--memory <size>', 'memory each actor reserves, e.g. 5GiB (default: estimated from the model and batch size)')
    .option(
      '--max-tasks-in-flight <n>',
      'batches an actor holds at once (the next travels while one computes)',
      RUN_DEFAULTS.maxTasksInFlight,
    )
    .option('--join-timeout <duration>', 'give up when no actor is ready for this long', RUN_DEFAULTS.joinTimeout)
    .option(
      '--stall-timeout <duration>',
      'inputs waiting, actors ready and nothing in flight this long: say why in the log and status; twice ' +
        'this long: fail with STALLED (resumable)',
      RUN_DEFAULTS.stallTimeout,
    )
    .option(
      '--batch-timeout <duration>',
      'evict an actor that holds a batch this long (default: 10× its own measured batch time, at least 60s; 10 min before its first batch)',
    )
    .option(
      '--verify <rate>',
      "share of each actor's batches the coordinator also computes with its own model to catch lying tabs " +
        '(new actors: always); 0 trusts the tabs, 1 checks every input',
      RUN_DEFAULTS.verify,
    )
    .option(
      '--verify-cpu <n>',
      "cores the coordinator's own copy of the actor may use: it decides when two tabs' answers differ, and checks " +
        'where no other host has an actor (checks run on actors of other hosts first)',
      RUN_DEFAULTS.verifyCpu,
    )
    .option(
      '--recycle-after <batches>',
      'each tab starts its actor afresh (a new worker, the model from its cache) after this many batches, between ' +
        'batches: ORT-web never gives wasm memory back; 0 = never',
      RUN_DEFAULTS.recycleAfter,
    )
    .option(
      '--recycle-above <size>',
      "also when the tab's page holds more than this, e.g. 3GiB (measured where the browser can: Chromium, cross-origin isolated)",
    )
    .option('--max-retries <n>', 'failures before a batch is split, and an input given an error row', RUN_DEFAULTS.maxRetries)
    .addOption(serving.maxMessagesPerSecond())
    .addOption(serving.heartbeat())
    .option('--logits', 'write the full logits vector in each row')
    .addOption(serving.cacheDir('where the built-in model and sample data are kept'))
    .addOption(serving.token())
    .option('--s3-endpoint <url>', 'S3-compatible endpoint for s3:// inputs (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .addOption(serving.tls())
    .addOption(serving.tlsCert())
    .addOption(serving.tlsKey())
    .option(
      '--queue <nats://host:port>',
      'run on NATS JetStream: batches go on a queue that gateways (tabpool gateway) on other machines take ' +
        'from; this process serves tabs too',
    )
    .option('--job <name>', "with --queue: the job's name, for gateways and --resume (default: a fresh name, printed)")
    .option(
      '--ack-wait <duration>',
      'with --queue: a batch whose gateway shows no sign of life this long goes to another gateway',
      RUN_DEFAULTS.ackWait,
    )
    .option(
      '--on <url>',
      'run on a standing pool (tabpool serve at URL): its tabs serve the job; the data is read and the output ' +
        'written here, as without --on',
    )
    .option('--submit-token <token>', "with --on: the head's submit token (default: TABPOOL_SUBMIT_TOKEN)")
    .option(
      '--weight <w>',
      "with --on: this job's share of the pool's actors beyond every job's minimum, relative to the others'",
      RUN_DEFAULTS.weight,
    )
    .option(
      '--priority <p>',
      'with --on: a job waiting for actors gets the next one freed, highest priority first (-1000..1000)',
      RUN_DEFAULTS.priority,
    )
    .addOption(serving.quiet('no live view or actor logs; only the summary'))
    .option('--json', 'print the summary as one JSON object on stdout (logs stay on stderr)')
    .option('--summary-json <file>', 'also write the summary as JSON to this file');
}

/** The raw option values commander hands the action: strings and booleans, as typed from the flags above. */
export type RunFlags = ReturnType<ReturnType<typeof runCommand>['opts']>;

/** The flags above and the options' raw type agree: a flag added to one and not the other, or typed apart, fails to compile. */
export const runFlagsFit = (flags: RunFlags): RawRunOptions => flags;
type Unmatched = Exclude<keyof RawRunOptions, keyof RunFlags> | Exclude<keyof RunFlags, keyof RawRunOptions>;
export const everyFlagMatched: [Unmatched] extends [never] ? true : Unmatched = true;
