/**
 * The `tabpool` command line. Flags are parsed and checked in full before anything starts:
 * an unknown flag or a bad value exits 2 with the fix, and no browser is launched.
 */
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { formatError, serializeError } from '../shared/errors.ts';
import { parseRunOptions, type RawRunOptions } from './jobOptions.ts';
import { ensureBuiltinModel } from './model/resnetBuilder.ts';
import { EXIT, runJob } from './runJob.ts';

const DEFAULT_CACHE = process.env.TABPOOL_CACHE ?? path.join(process.cwd(), '.tabpool');

function program(setExit: (code: number) => void): Command {
  const cli = new Command('tabpool')
    .description('Batch inference on a pool of browser tabs (WebGPU actors), with Ray Data semantics.')
    .showHelpAfterError('(run tabpool --help for usage)')
    .exitOverride();

  cli
    .command('run')
    .description('run a job: predictions for every input, one row each')
    .option('--model <path|resnet18>', 'ONNX image classifier, or the built-in resnet18 (resnet18-tiny for tests)', 'resnet18')
    .option('--data <dir|manifest>', 'folder of images, or a .txt/.jsonl/.csv manifest (default: the built-in 256-image sample)')
    .option('--out <file>', 'output file, .jsonl or .csv', 'predictions.jsonl')
    .option('--overwrite', 'replace --out if it exists')
    .option('--resume', 'continue an interrupted job: skip ids already in --out')
    .option('--batch-size <n>', 'images per batch sent to an actor', '16')
    .option('--pool <n|min..max>', 'actors: a fixed N, or MIN..MAX to grow as tabs join', '1..8')
    .option('--ep <auto|webgpu|wasm>', 'execution provider; auto = WebGPU on a hardware GPU, else wasm', 'auto')
    .option('--allow-software-gpu', 'accept a software WebGPU adapter (SwiftShader) as a GPU')
    .option('--launch <k>', 'open K local headless Chromium tabs (0 = wait for browsers to join)', '0')
    .option('--host <host>', 'address to listen on (0.0.0.0 for other machines: use TLS)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '0')
    .option('--top-k <k>', 'classes per row', '5')
    .option('--num-gpus <x>', 'GPUs each actor reserves on its host (fractions share: 0.5 = two per GPU); default 1 on webgpu, 0 on wasm')
    .option('--num-cpus <x>', 'CPUs each actor reserves, and its wasm thread count (default: 1 to be placed, 0 held, as Ray does for actors; 1 thread)')
    .option('--memory <size>', 'memory each actor reserves, e.g. 5GiB (default: estimated from the model and batch size)')
    .option('--max-tasks-in-flight <n>', 'batches an actor holds at once (the next travels while one computes)', '2')
    .option('--join-timeout <duration>', 'give up when no actor is ready for this long', '120s')
    .option('--batch-timeout <duration>', 'evict an actor that holds a batch this long (default: 10× its own measured batch time, at least 60s; 10 min before its first batch)')
    .option('--max-retries <n>', 'failures before a batch is split, and an input given an error row', '3')
    .option('--max-messages-per-second <n>', 'a client sending more than this is cut off as a flood', '2000')
    .option('--logits', 'write the full logits vector in each row')
    .option('--cache-dir <dir>', 'where the built-in model and sample data are kept', DEFAULT_CACHE)
    .option('--token <token>', 'join token (default: random per job)')
    .option('--tls-cert <file>', 'serve https with this certificate (remote browsers need it for WebGPU)')
    .option('--tls-key <file>', 'private key for --tls-cert')
    .option('--quiet', 'no live view or actor logs; only the summary')
    .action(async (raw: RawRunOptions & { overwrite?: boolean }) => {
      const options = parseRunOptions(raw);
      setExit(await runJob(options, { overwrite: raw.overwrite === true }));
    });

  const model = cli.command('model').description('the built-in model');
  model
    .command('build')
    .description('build the built-in ResNet-18 (and its test-sized variant) into the cache')
    .addOption(new Option('--variant <name>', 'resnet18 or tiny').choices(['resnet18', 'tiny', 'all']).default('all'))
    .option('--cache-dir <dir>', 'cache folder', DEFAULT_CACHE)
    .action(async (o: { variant: 'resnet18' | 'tiny' | 'all'; cacheDir: string }) => {
      for (const v of o.variant === 'all' ? (['resnet18', 'tiny'] as const) : [o.variant]) {
        const started = Date.now();
        const built = await ensureBuiltinModel(path.resolve(o.cacheDir), v);
        process.stdout.write(`${v}: ${built.path} sha256 ${built.sha256} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
      }
      setExit(EXIT.ok);
    });
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const cli = program((c) => (code = c));
  try {
    await cli.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; everything else is a usage error (commander printed it).
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    if (err instanceof InvalidArgumentError) return EXIT.badInput;
    process.stderr.write(`tabpool: ${formatError(serializeError(err, 'BAD_ARGUMENT'))}\n`);
    return EXIT.badInput;
  }
  return code;
}
