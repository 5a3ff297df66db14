/** `tabpool jobs` and `tabpool cancel JOB`: a standing pool's jobs, listed and drained, with the submit token. */
import { Command } from '@commander-js/extra-typings';
import { formatError, serializeError, TabpoolError, type ErrorCode } from '../../shared/errors.ts';
import { jobRecordSchema, type JobRecord } from '../../shared/poolProtocol.ts';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import { EXIT, exitCodeFor } from '../api/exitCodes.ts';
import { headOrigin } from '../options/headOrigin.ts';

const common = (c: Command) =>
  c
    .requiredOption('--on <url>', 'the standing pool (tabpool serve) at URL')
    .option('--submit-token <token>', "the head's submit token (default: TABPOOL_SUBMIT_TOKEN)")
    .option('--json', 'print JSON');

export function jobsCommand() {
  return common(new Command('jobs').description("a standing pool's jobs: queued, running, done, failed, cancelled, with their progress"));
}

export function cancelCommand() {
  return common(
    new Command('cancel').description('drain a job on a standing pool: batches out finish, rows so far stay; --resume finishes it'),
  ).argument('<job>', 'the job id (tabpool jobs lists them)');
}

type Flags = { on: string; submitToken?: string; json?: true };

async function call(f: Flags, route: string, method: 'GET' | 'POST'): Promise<unknown> {
  const origin = headOrigin(f.on);
  const token = f.submitToken ?? process.env.TABPOOL_SUBMIT_TOKEN;
  if (!token) throw new TabpoolError('BAD_ARGUMENT', "give the head's submit token: --submit-token TOKEN or TABPOOL_SUBMIT_TOKEN");
  let res: Response;
  try {
    res = await fetch(`${origin}${route}?${TOKEN_PARAM}=${encodeURIComponent(token)}`, { method });
  } catch (err) {
    throw new TabpoolError('HEAD_UNREACHABLE', `the head at ${origin} could not be reached: ${(err as Error).message}`);
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new TabpoolError((e?.code as ErrorCode | undefined) ?? 'SUBMIT_REFUSED', e?.message ?? `HTTP ${res.status}`);
  }
  return body;
}

function line(j: JobRecord): string {
  const progress = j.total ? `${j.done}/${j.total} rows (${((100 * j.done) / j.total).toFixed(0)}%)` : `${j.done} rows`;
  const errors = j.errors ? `, ${j.errors} errors` : '';
  return `${j.id}  ${j.status.padEnd(12)} ${progress}${errors}  ${j.name}  → ${j.out}${j.message ? `  (${j.message})` : ''}`;
}

async function guarded(what: string, run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return EXIT.ok;
  } catch (err) {
    const e = serializeError(err, 'HEAD_UNREACHABLE');
    process.stderr.write(`tabpool ${what}: ${formatError(e)}\n`);
    return exitCodeFor(e.code);
  }
}

export function runJobs(f: Flags): Promise<number> {
  return guarded('jobs', async () => {
    const jobs = jobRecordSchema.array().parse(await call(f, ROUTES.jobsApi, 'GET'));
    if (f.json) return void process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
    if (jobs.length === 0) process.stdout.write('no jobs yet\n');
    for (const j of jobs) process.stdout.write(`${line(j)}\n`);
  });
}

export function runCancel(id: string, f: Flags): Promise<number> {
  return guarded('cancel', async () => {
    const j = jobRecordSchema.parse(await call(f, `${ROUTES.jobsApi}/${encodeURIComponent(id)}/cancel`, 'POST'));
    process.stdout.write(f.json ? `${JSON.stringify(j)}\n` : `${line(j)}\n`);
  });
}
