/**
 * A real coordinator for end-to-end tests: `tabpool run` (or `tabpool gateway`) as a child process
 * on port 0, with the worker URL read from its stdout. Always torn down, even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE_DIR = path.join(ROOT, '.tabpool');

export interface RunningCoordinator {
  process: ChildProcess;
  workerUrl: string;
  statusUrl: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

export async function startCoordinator(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; command?: 'run' | 'gateway' } = {},
): Promise<RunningCoordinator> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'tabpool.js'), opts.command ?? 'run', '--port', '0', '--cache-dir', CACHE_DIR, ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const urls = await new Promise<{ workerUrl: string; statusUrl: string }>((resolve, reject) => {
    const check = (): void => {
      const w = /worker page \(open in any browser to join\): (\S+)/.exec(out);
      const s = /status page: (\S+)/.exec(out);
      if (w && s) {
        child.stdout!.off('data', check);
        resolve({ workerUrl: w[1]!, statusUrl: s[1]! });
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`coordinator exited ${code} before listening:\n${out}\n${err}`)));
  });
  return {
    process: child,
    ...urls,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}

/** Runs the CLI to completion (for flag and bad-input tests). */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tabpool.js'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * Resolves once the coordinator's stderr (its log; or stdout) matches `pattern`, checked as output
 * arrives; rejects when it exits first or after `timeoutMs`.
 */
export function waitForLog(
  c: RunningCoordinator,
  pattern: RegExp,
  timeoutMs = 10_000,
  on: 'stderr' | 'stdout' = 'stderr',
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const stream = on === 'stderr' ? c.process.stderr! : c.process.stdout!;
    const text = on === 'stderr' ? c.stderr : c.stdout;
    const done = (): void => {
      clearTimeout(timer);
      stream.off('data', check);
      c.process.off('exit', onExit);
    };
    const check = (): void => {
      const m = pattern.exec(text());
      if (m) {
        done();
        resolve(m);
      }
    };
    const onExit = (): void => {
      done();
      const m = pattern.exec(text());
      if (m) resolve(m);
      else reject(new Error(`coordinator exited before logging ${pattern}:\n${text().slice(-4000)}\n${c.stderr().slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`coordinator did not log ${pattern} within ${timeoutMs} ms:\n${text().slice(-4000)}`));
    }, timeoutMs);
    stream.on('data', check);
    c.process.on('exit', onExit);
    check();
  });
}

export interface RunningHeadProcess {
  process: ChildProcess;
  origin: string;
  workerUrl: string;
  submitToken: string;
  statusUrl: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

/** `tabpool serve` as a child process; resolves once it prints its URLs. */
export async function startHeadProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningHeadProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tabpool.js'), 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const found = await new Promise<Omit<RunningHeadProcess, 'process' | 'stdout' | 'stderr' | 'exited' | 'kill'>>((resolve, reject) => {
    const check = (): void => {
      const origin = /a standing pool at (\S+)/.exec(out);
      const worker = /^ {2}(\S+\/worker\/\S+)$/m.exec(out);
      const token = /^submit token: (\S+)$/m.exec(out);
      const statusPage = /^status page: (\S+)$/m.exec(out);
      if (origin && worker && token && statusPage) {
        child.stdout!.off('data', check);
        resolve({ origin: origin[1]!, workerUrl: worker[1]!, submitToken: token[1]!, statusUrl: statusPage[1]! });
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`tabpool serve exited ${code} before listening:\n${out}\n${err}`)));
  });
  return {
    process: child,
    ...found,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}

/** A CLI process whose output can be read while it runs. */
export function spawnCli(args: string[]): { stdout(): string; stderr(): string; exited: Promise<number> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tabpool.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { stdout: () => out, stderr: () => err, exited };
}
