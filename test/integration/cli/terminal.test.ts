/**
 * What a person sees when `tabpool run` runs: the real CLI in a pseudo-terminal, its output replayed
 * into a terminal emulator and read back line by line; and the same CLI on pipes, as in CI, where
 * there is no bar and `--json` gives a program the summary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CACHE_DIR, ROOT, startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';
import {
  renderScreen,
  runCliInPseudoTerminal,
  withoutEscapes,
  type PseudoTerminalRun,
  type TerminalSize,
} from '../../support/pseudoTerminal.ts';
import { startActors, type ActorGroup } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const IMAGES = 300;
const WORKER_LINE = /^worker page \(open in any browser to join\): https?:\/\/\S+\/worker\/\?token=[A-Za-z0-9_-]{24}$/;
const STATUS_LINE = /^status page: https?:\/\/\S+\/\?token=[A-Za-z0-9_-]{24}$/;
const BAR_TEXT = /\d+\/\d+ rows \(/;
/** Batches answered slowly enough that the bar is drawn several times (it redraws 5 times a second). */
const ACTOR_DELAY_MS = 40;

let tmp: string;
let data: string;
let few: string;
const cleanups: (() => void)[] = [];

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-terminal-'));
  data = path.join(tmp, 'data');
  few = path.join(tmp, 'few');
  await writeTestPngs(data, IMAGES, 32, 32);
  await writeTestPngs(few, 3, 32, 32);
});

after(async () => {
  for (const cleanup of cleanups) cleanup();
  await fs.rm(tmp, { recursive: true, force: true });
});

function cliArgs(dataDir: string, out: string, flags: JobFlags = {}): string[] {
  return [
    'run',
    ...jobArgv({
      model: 'resnet18-tiny',
      data: dataDir,
      out: path.join(tmp, out),
      overwrite: true,
      cacheDir: CACHE_DIR,
      port: 0,
      verify: 0,
      ...flags,
    }),
  ];
}

function inTerminal(args: string[], size: TerminalSize): PseudoTerminalRun {
  const run = runCliInPseudoTerminal(args, size);
  cleanups.push(() => run.kill());
  return run;
}

/** Every state of the progress bar the terminal was sent, in order (each redraw is one). */
function barFrames(output: string): { done: number; total: number; eta: string }[] {
  return output
    .split(/\x1b\[[0-?]*[ -/]*[@-~]|[\r\n]/)
    .map((s) => /(\d+)\/(\d+) rows \(.*\| ETA (\S+)/.exec(s))
    .filter((m) => m !== null)
    .map((m) => ({ done: Number(m[1]), total: Number(m[2]), eta: m[3]! }));
}

/**
 * A job of IMAGES rows in a terminal of `size`. Two actors hold their first batches until the bar
 * is up at 0 rows and a third actor, joining from `lateHost`, has had its log line printed above
 * it (`stalled` is the screen then); then they answer, slowly enough that the bar is redrawn a
 * few times, and the job runs to its end (`screen`).
 */
async function workInTerminal(
  size: TerminalSize,
  out: string,
  lateHost: string,
): Promise<{ code: number; output: string; stalled: string[]; screen: string[] }> {
  const run = inTerminal(cliArgs(data, out, { batchSize: 4, pool: 2 }), size);
  const [, workerUrl] = await run.waitFor(/worker page \(open in any browser to join\): (\S+)/);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const groups: ActorGroup[] = [];
  cleanups.push(() => groups.forEach((g) => g.actors.forEach((a) => a.terminate())));
  groups.push(
    await startActors(workerUrl!, 2, {
      mode: 'instant',
      delayMs: ACTOR_DELAY_MS,
      onBatch: async (batch, actor) => {
        await released;
        actor.send(await actor.answer(batch));
      },
    }),
  );
  await run.waitFor(/ 0\/300 rows \(/);
  groups.push(await startActors(workerUrl!, 1, { mode: 'instant', hostId: lateHost }));
  await run.waitFor(new RegExp(`actor-3 joined from host ${lateHost}: [^\\r\\n]*\\r?\\n[^\\r\\n]* 0/300 rows \\(`), 5_000);
  const stalled = await renderScreen(run.output(), size);
  release();
  const code = await run.exited;
  return { code, output: run.output(), stalled, screen: await renderScreen(run.output(), size) };
}

/** Whether the terminal's cursor is visible once the output ends (a bar hides it while it is drawn). */
function cursorShownAtEnd(output: string): boolean {
  return [...output.matchAll(/\x1b\[\?25([hl])/g)].at(-1)?.[1] !== 'l';
}

const show = (screen: string[]): string => `\n--- screen ---\n${screen.join('\n')}\n--------------`;

describe('in a terminal, a job no tab joins', () => {
  const size = { cols: 120, rows: 40 };
  let code: number;
  let output: string;
  let screen: string[];
  before(async () => {
    const run = inTerminal(cliArgs(few, 'none.jsonl', { joinTimeout: '2s' }), size);
    code = await run.exited;
    output = run.output();
    screen = await renderScreen(output, size);
  });

  test('shows the worker URL and the status URL whole, each on its own line', () => {
    assert.equal(screen.filter((l) => WORKER_LINE.test(l)).length, 1, show(screen));
    assert.equal(screen.filter((l) => STATUS_LINE.test(l)).length, 1, show(screen));
  });

  test('draws no progress bar while no work runs', () => {
    assert.deepEqual(
      screen.filter((l) => /\brows\b|\bETA\b/.test(l)),
      [],
      show(screen),
    );
    assert.deepEqual(barFrames(output), [], 'a bar was drawn and then taken down');
  });

  test('prints the NO_ACTORS error from the first column of its own line and exits 1', () => {
    assert.equal(
      screen.filter((l) => l.startsWith('tabpool: NO_ACTORS: no actor was ready after --join-timeout 2s')).length,
      1,
      show(screen),
    );
    assert.equal(screen.filter((l) => l.includes('NO_ACTORS')).length, 1, show(screen));
    assert.equal(code, 1);
  });
});

describe('in a terminal, a job that runs', () => {
  const size = { cols: 120, rows: 40 };
  let result: Awaited<ReturnType<typeof workInTerminal>>;
  before(async () => {
    result = await workInTerminal(size, 'work.jsonl', 'late-host');
  });

  test('prints log lines above the progress bar, never into it', () => {
    const { screen } = result;
    const bar = screen.findIndex((l) => BAR_TEXT.test(l));
    assert.ok(bar >= 0, `no progress bar on the screen${show(screen)}`);
    assert.equal(screen.filter((l) => BAR_TEXT.test(l)).length, 1, `the bar left copies of itself${show(screen)}`);
    const logs = screen.filter((l) => l.includes('actor-'));
    for (const id of ['actor-1', 'actor-2']) {
      assert.ok(
        logs.some((l) => new RegExp(`^${id} joined from host sim-\\S+: admitted \\(wasm\\)$`).test(l)),
        `${id} joined${show(screen)}`,
      );
      assert.ok(
        logs.some((l) => new RegExp(`^${id} ready on wasm: model (?:downloaded|from cache), loaded in \\S+s, warm-up \\S+s$`).test(l)),
        `${id} ready${show(screen)}`,
      );
    }
    const late = screen.findIndex((l) => /^actor-3 joined from host late-host: /.test(l));
    assert.ok(late >= 0 && late < bar, `the log line printed while the bar was up is not whole above it${show(screen)}`);
    assert.deepEqual(
      logs.filter((l) => / (joined from host|ready on) /.test(l) && (!/^actor-\d+ /.test(l) || /\brows\b|\bETA\b|░|█/.test(l))),
      [],
      show(screen),
    );
  });

  test('keeps the bar drawn below a log line printed while no row is done', () => {
    const { stalled } = result;
    assert.match(stalled.at(-2) ?? '', /^actor-3 joined from host late-host: \S/, show(stalled));
    assert.match(stalled.at(-1) ?? '', /^ ░{30} 0\/300 rows \(0\.0%\) \| – img\/s \| 0 errors \| ETA –$/, show(stalled));
  });

  test('leaves the bar at its final state, every row written', () => {
    const bar = result.screen.filter((l) => BAR_TEXT.test(l));
    assert.match(bar[0] ?? '', /^ [█░]{30} 300\/300 rows \(100\.0%\) \| [\d.]+ img\/s \| 0 errors \| ETA \S+$/, show(result.screen));
    assert.ok(cursorShownAtEnd(result.output), 'the cursor is left hidden');
  });

  test('shows no row count before the total is known, and no ETA before a row is done', () => {
    const frames = barFrames(result.output);
    assert.ok(frames.length >= 2, `the bar was drawn ${frames.length} times`);
    assert.deepEqual(
      frames.filter((f) => f.total !== IMAGES),
      [],
    );
    assert.deepEqual(
      frames.filter((f) => f.done === 0 && f.eta !== '–'),
      [],
    );
  });

  test('shows the worker and status URLs whole, and the summary whole below the bar; exits 0', () => {
    const { screen } = result;
    assert.equal(screen.filter((l) => WORKER_LINE.test(l)).length, 1, show(screen));
    assert.equal(screen.filter((l) => STATUS_LINE.test(l)).length, 1, show(screen));
    const summary = screen.findIndex((l) => /^done: 300 rows \(300 predictions, 0 errors\) in [\d.]+s — [\d.]+ img\/s$/.test(l));
    assert.ok(summary > screen.findIndex((l) => BAR_TEXT.test(l)), show(screen));
    assert.ok(
      screen.some((l) => l === `output: ${path.join(tmp, 'work.jsonl')}`),
      show(screen),
    );
    assert.equal(result.code, 0);
  });
});

describe('in a narrow terminal, a job that runs', () => {
  const size = { cols: 60, rows: 24 };
  const lateHost = 'a-host-with-a-name-long-enough-to-wrap-a-sixty-column-terminal';
  let result: Awaited<ReturnType<typeof workInTerminal>>;
  before(async () => {
    result = await workInTerminal(size, 'narrow.jsonl', lateHost);
  });

  test('wraps a long log line printed while the bar is up, and keeps it whole', () => {
    const { screen } = result;
    const late = screen.find((l) => l.startsWith('actor-3 joined from host ')) ?? '';
    assert.match(late, new RegExp(`^actor-3 joined from host ${lateHost}: \\S`), show(screen));
    assert.ok(late.length > size.cols, late);
    assert.equal(screen.filter((l) => WORKER_LINE.test(l)).length, 1, show(screen));
  });

  test('cuts the bar to the terminal width instead of wrapping it', () => {
    const bar = result.screen.filter((l) => BAR_TEXT.test(l));
    assert.equal(bar.length, 1, show(result.screen));
    assert.ok(bar[0]!.length <= size.cols, show(result.screen));
    assert.match(bar[0]!, /^ [█░]{30} 300\/300 rows/);
    assert.equal(result.code, 0);
  });
});

describe('in a terminal, Ctrl-C pressed twice while the bar is up', () => {
  const size = { cols: 120, rows: 40 };
  let code: number;
  let output: string;
  let screen: string[];
  before(async () => {
    const run = inTerminal(cliArgs(data, 'interrupted.jsonl', { batchSize: 4, pool: 1 }), size);
    const [, workerUrl] = await run.waitFor(/worker page \(open in any browser to join\): (\S+)/);
    // The actor never answers: the drain that the first Ctrl-C starts cannot end by itself.
    const group = await startActors(workerUrl!, 1, { mode: 'instant', onBatch: () => undefined });
    cleanups.push(() => group.actors.forEach((a) => a.terminate()));
    await run.waitFor(/ 0\/300 rows \(/);
    run.type('\x03');
    await run.waitFor(/interrupt: draining/);
    run.type('\x03');
    code = await run.exited;
    output = run.output();
    screen = await renderScreen(output, size);
  });

  test('prints both interrupt messages whole above the bar, and the error below it; exits 130', () => {
    const bar = screen.findIndex((l) => BAR_TEXT.test(l));
    const first = screen.indexOf('interrupt: draining — no new batches; in-flight ones finish. Press Ctrl-C again to stop at once.');
    const second = screen.indexOf('second interrupt: stopping now; the output so far is resumable with --resume');
    const error = screen.findIndex((l) => l.startsWith('tabpool: JOB_FAILED: stopped by a second Ctrl-C'));
    assert.ok(first >= 0 && first < second && second < bar && bar < error, show(screen));
    assert.match(screen[bar]!, /^ ░{30} 0\/300 rows \(0\.0%\) \| – img\/s \| 0 errors \| ETA –$/, show(screen));
    assert.equal(code, 130);
    assert.ok(cursorShownAtEnd(output), 'the cursor is left hidden');
  });
});

/** The CLI with stdout and stderr on pipes, as in CI; resolves once it exits. */
async function piped(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tabpool.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  // Typed by assertion: assigned in a callback, which TypeScript's narrowing does not see.
  let actors = null as Promise<ActorGroup> | null;
  const join = (): void => {
    const m = /worker page \(open in any browser to join\): (\S+)/.exec(stdout + stderr);
    if (m && !actors) {
      actors = startActors(m[1]!, 2, { mode: 'instant' });
      // Awaited below; until then a refused connection must not count as unhandled.
      actors.catch(() => undefined);
    }
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => ((stdout += d), join()));
  child.stderr.setEncoding('utf8').on('data', (d: string) => ((stderr += d), join()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  assert.ok(actors, `the CLI printed no worker URL:\n${stdout}\n${stderr}`);
  (await actors).actors.forEach((a) => a.terminate());
  return { code, stdout, stderr };
}

describe('on pipes (CI)', () => {
  test('prints plain lines, no bar and no escape sequences, and ends with a progress line', async () => {
    const c = await startCoordinator(
      jobArgv({ model: 'resnet18-tiny', data, out: path.join(tmp, 'ci.jsonl'), overwrite: true, batchSize: 4, pool: 2, verify: 0 }),
    );
    cleanups.push(() => c.kill('SIGKILL'));
    const group = await startActors(c.workerUrl, 2, { mode: 'instant' });
    cleanups.push(() => group.actors.forEach((a) => a.terminate()));
    assert.equal(await c.exited, 0);
    for (const text of [c.stdout(), c.stderr()]) {
      assert.equal(text, withoutEscapes(text));
      assert.doesNotMatch(text, /[\x1b\r█░]/);
    }
    assert.match(c.stderr(), /^actor-1 joined from host \S+: admitted \(wasm\)$/m);
    assert.match(c.stderr(), /\nprogress: 300\/300 rows \(100\.0%\) \| [\d.]+ img\/s \| 0 errors \| ETA \S+\n$/);
    assert.equal(c.stderr().match(/progress: 300\/300/g)?.length, 1, c.stderr());
    assert.match(c.stdout(), /^done: 300 rows \(300 predictions, 0 errors\)/m);
  });

  test('--json prints one JSON summary on stdout, the lines for a person on stderr, and --summary-json writes the same', async () => {
    const file = path.join(tmp, 'summary.json');
    const r = await piped(cliArgs(data, 'json.jsonl', { batchSize: 4, pool: 2, json: true, summaryJson: file }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 1, r.stdout);
    const summary = JSON.parse(r.stdout) as { status: string; exitCode: number; rows: { written: number; errors: number } };
    assert.equal(summary.status, 'done');
    assert.equal(summary.exitCode, 0);
    assert.equal(summary.rows.written, IMAGES);
    assert.equal(summary.rows.errors, 0);
    assert.deepEqual(JSON.parse(await fs.readFile(file, 'utf8')), summary);
    assert.match(r.stderr, /^worker page \(open in any browser to join\): \S+$/m);
    assert.match(r.stderr, /^actor-1 joined from host \S+: admitted \(wasm\)$/m);
    assert.doesNotMatch(r.stderr, /\x1b/);
  });
});
