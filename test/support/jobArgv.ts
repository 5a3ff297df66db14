/**
 * The argv of a job (`tabpool run`), a gateway or a standing pool, built from typed flags instead of
 * written out by hand: `jobArgv({ data, out, ep: 'wasm', pool: 2, logits: true })` is
 * `--data DATA --out OUT --ep wasm --pool 2 --logits`. The keys are the options' own (RawRunOptions,
 * which the CLI's flags are checked against; the gateway's and serve's commander flags), so a flag
 * renamed or removed fails the typecheck. A key is its flag in kebab case (`maxTasksInFlight` is
 * `--max-tasks-in-flight`, as commander names them; test/unit/cli/jobArgv.test.ts holds every flag
 * to it); `true` gives the bare flag, `false` and `undefined` nothing, an array the flag once per
 * value (`model: ['cls=a.onnx', 'rec=b.onnx']`), a number its decimal text. Values are not checked
 * here: a test of a refusal passes its bad value as a string. Flags come in the object's key order,
 * then `extra` as given (an unknown flag, say); no flag is added that the caller did not name.
 */
import type { GatewayFlags } from '../../coordinator/cli/gatewayCommand.ts';
import type { ServeFlags } from '../../coordinator/cli/serveCommand.ts';
import type { RawRunOptions } from '../../coordinator/options/rawOptions.ts';

export type FlagValue = string | number | boolean | readonly string[] | undefined;

/** Any of a command's options, each as a flag value. */
export type FlagsOf<Options> = { [K in keyof Options]?: FlagValue };

/** `tabpool run`'s flags. */
export type JobFlags = FlagsOf<RawRunOptions>;

/** `tabpool gateway`'s flags. */
export type GatewayArgvFlags = FlagsOf<GatewayFlags>;

/** `tabpool serve`'s flags. */
export type ServeArgvFlags = FlagsOf<ServeFlags>;

/** The flag a camelCase option key stands for: `summaryJson` → `--summary-json`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function toArgv(flags: Readonly<Record<string, FlagValue>>, extra: readonly string[]): string[] {
  const argv: string[] = [];
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined || value === false) continue;
    const flag = flagName(key);
    if (value === true) argv.push(flag);
    else if (typeof value === 'object') for (const v of value) argv.push(flag, v);
    else argv.push(flag, String(value));
  }
  return [...argv, ...extra];
}

/** `tabpool run`'s argv (without the command itself). */
export function jobArgv(flags: JobFlags, ...extra: string[]): string[] {
  return toArgv(flags, extra);
}

/** `tabpool gateway`'s argv (without the command itself). */
export function gatewayArgv(flags: GatewayArgvFlags, ...extra: string[]): string[] {
  return toArgv(flags, extra);
}

/** `tabpool serve`'s argv (without the command itself). */
export function serveArgv(flags: ServeArgvFlags, ...extra: string[]): string[] {
  return toArgv(flags, extra);
}
