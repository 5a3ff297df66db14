/**
 * The CLI in a real pseudo-terminal, and the screen a person would see there. util-linux `script`
 * gives the child a PTY of a known size (stdout and stderr both on it, as in a shell); the bytes it
 * wrote are replayed into @xterm/headless, a terminal emulator, whose buffer (scrollback included)
 * is what a person would read, line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './coordinatorProcess.ts';

// The package is CommonJS without statically detectable exports: ESM `import { Terminal }` fails.
const { Terminal } = createRequire(import.meta.url)('@xterm/headless') as typeof import('@xterm/headless');

/** A terminal's size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** The CLI running in a pseudo-terminal. */
export interface PseudoTerminalRun {
  /** Everything written to the terminal so far, escape sequences included. */
  output(): string;
  /** Resolves once the output, read without escape sequences, matches `pattern`; rejects on exit first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Keys typed at the terminal: `'\x03'` is Ctrl-C, which the terminal turns into SIGINT for the CLI. */
  type(keys: string): void;
  /** Resolves with the CLI's exit code once it ends and its output is all read. */
  exited: Promise<number>;
  kill(): void;
}

/** CSI, OSC and two-byte escape sequences: what a terminal acts on instead of printing. */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_7-8=>]/g;

/** The text of terminal output without its escape sequences (carriage returns kept). */
export function withoutEscapes(s: string): string {
  return s.replace(ESCAPES, '');
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** Starts `tabpool <args>` in a fresh pseudo-terminal of `size`, with TERM=xterm-256color. */
export function runCliInPseudoTerminal(args: string[], size: TerminalSize): PseudoTerminalRun {
  const cli = [process.execPath, path.join(ROOT, 'bin', 'tabpool.js'), ...args].map(shellQuote).join(' ');
  const child: ChildProcess = spawn(
    'script',
    ['--quiet', '--return', '--flush', '--command', `stty cols ${size.cols} rows ${size.rows} && exec ${cli}`, '/dev/null'],
    {
      cwd: ROOT,
      env: { ...process.env, TERM: 'xterm-256color', COLUMNS: String(size.cols), LINES: String(size.rows) },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  // `script` exits with the CLI; a key typed after that has nowhere to go.
  child.stdin!.on('error', () => undefined);
  let out = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters) w();
  });
  let scriptErr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (scriptErr += d));
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return {
    output: () => out,
    type: (keys) => void child.stdin!.write(keys),
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = (): void => {
          const m = pattern.exec(withoutEscapes(out));
          if (m) {
            finish();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`the terminal did not show ${pattern} within ${timeoutMs} ms:\n${withoutEscapes(out).slice(-4000)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then((code) => {
          if (!waiters.has(check)) return;
          finish();
          const m = pattern.exec(withoutEscapes(out));
          if (m) resolve(m);
          else
            reject(
              new Error(`the CLI exited ${code} before the terminal showed ${pattern}:\n${withoutEscapes(out).slice(-4000)}${scriptErr}`),
            );
        });
        check();
      });
    },
  };
}

/**
 * The screen after `output` was written to a terminal of `size`, from the top of the scrollback:
 * one entry per line as a person reads it, a line the terminal wrapped joined back into one.
 * Trailing blank lines are dropped.
 */
export async function renderScreen(output: string, size: TerminalSize): Promise<string[]> {
  const term = new Terminal({ cols: size.cols, rows: size.rows, scrollback: 10_000, allowProposedApi: true });
  await new Promise<void>((resolve) => term.write(output, resolve));
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    const row = buffer.getLine(i)!;
    const continues = buffer.getLine(i + 1)?.isWrapped ?? false;
    const text = row.translateToString(!continues);
    if (row.isWrapped && lines.length > 0) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  term.dispose();
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}
