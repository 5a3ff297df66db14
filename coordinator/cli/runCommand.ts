/**
 * `tabpool run`: a thin layer over the API's TabpoolJob. It shows the job (the live view or log
 * lines on stderr, the plan and join block on stdout, or the summary alone as JSON with --json),
 * turns Ctrl-C into drain (the first) and cancel (the second), and returns the exit code.
 */
import { formatError } from '../../shared/errors.ts';
import { EXIT } from '../api/exitCodes.ts';
import { summaryLines, type RunSummary } from '../api/summary.ts';
import { JobFailedError, TabpoolJob, writeSummaryJson } from '../api/tabpoolJob.ts';
import type { RunOptions } from '../options/jobOptions.ts';
import { terminalQr } from './joinBanner.ts';
import { createLiveView } from './terminal.ts';

export interface RunHooks {
  signal?: AbortSignal;
}

export async function runJob(options: RunOptions, hooks: RunHooks = {}): Promise<number> {
  // With --json, stdout carries the summary object alone; every line for a person goes to stderr.
  const say = (line: string): void => void (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  const view = createLiveView(options.quiet ? 'quiet' : process.stderr.isTTY ? 'bar' : 'lines');
  const job = new TabpoolJob(options);
  job.on('plan', say);
  // A code to scan from a phone or a tablet, on a terminal, when other machines can reach the job.
  job.on('started', (s) => {
    if (process.stderr.isTTY === true && !options.quiet && s.reachable && s.join.workerUrls[0])
      say(['scan to join from a phone or a tablet:', ...terminalQr(s.join.workerUrls[0])].join('\n'));
  });
  job.on('log', (line) => view.log(line));
  job.on('progress', (p) => view.update(p));
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      view.log('interrupt: draining — no new batches; in-flight ones finish. Press Ctrl-C again to stop at once.');
      job.drain();
    } else {
      view.log('second interrupt: stopping now; the output so far is resumable with --resume');
      job.cancel('stopped by a second Ctrl-C');
    }
  };
  process.on('SIGINT', onSigint);
  hooks.signal?.addEventListener('abort', onSigint);
  let summary: RunSummary;
  try {
    summary = await job.done;
  } catch (err) {
    if (!(err instanceof JobFailedError)) throw err;
    summary = err.summary;
  } finally {
    process.off('SIGINT', onSigint);
    hooks.signal?.removeEventListener('abort', onSigint);
    view.stop();
  }
  if (summary.error) process.stderr.write(`tabpool: ${formatError(summary.error)}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (summary.status !== 'failed' || summary.rows.written > 0) for (const line of summaryLines(summary)) say(line);
  if (options.summaryJson) await writeSummaryJson(options.summaryJson, summary);
  return summary.exitCode ?? EXIT.ok;
}
