/**
 * The `tabpool` command line. Flags are parsed and checked in full before anything starts:
 * an unknown flag or a bad value exits 2 with the fix, and no browser is launched.
 */
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { formatError, serializeError } from '../../shared/errors.ts';
import { ensureBuiltinModel } from '../builtin/resnetBuilder.ts';
import { EXIT } from '../api/exitCodes.ts';
import { gatewayCommand, runGateway } from './gatewayCommand.ts';
import { runJob } from './runCommand.ts';
import { cancelCommand, jobsCommand, runCancel, runJobs } from './jobsCommand.ts';
import { runServe, serveCommand } from './serveCommand.ts';
import { DEFAULT_CACHE, runCommand } from './runFlags.ts';
import { parseRunOptions } from '../options/runOptions.ts';

/** Every command and flag, as declared: what `main` parses, and what the CLI reference (docs/reference/cli.md) is made from. */
export function program(setExit: (code: number) => void = () => undefined): Command {
  const cli = new Command('tabpool')
    .description('Batch inference on a pool of browser tabs (WebGPU actors), with Ray Data semantics.')
    .showHelpAfterError('(run tabpool --help for usage)')
    .exitOverride();

  // addCommand does not pass the parent's settings on: exit codes must stay ours (2 for usage).
  cli.addCommand(
    runCommand()
      .copyInheritedSettings(cli)
      .action(async (flags) => {
        setExit(await runJob(parseRunOptions(flags)));
      }),
  );

  cli.addCommand(
    gatewayCommand()
      .copyInheritedSettings(cli)
      .action(async (flags) => {
        setExit(await runGateway(flags));
      }),
  );

  cli.addCommand(
    serveCommand()
      .copyInheritedSettings(cli)
      .action(async (flags) => setExit(await runServe(flags))),
  );
  cli.addCommand(
    jobsCommand()
      .copyInheritedSettings(cli)
      .action(async (flags) => setExit(await runJobs(flags))),
  );
  cli.addCommand(
    cancelCommand()
      .copyInheritedSettings(cli)
      .action(async (id, flags) => setExit(await runCancel(id, flags))),
  );

  const model = cli.command('model').description('the built-in model');
  model
    .command('build')
    .description('build the built-in ResNet-18 (and its test-sized variant) into the cache')
    .addOption(new Option('--variant <name>', 'resnet18 or tiny').choices(['resnet18', 'tiny', 'all'] as const).default('all' as const))
    .option('--cache-dir <dir>', 'cache folder', DEFAULT_CACHE)
    .action(async (o) => {
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
