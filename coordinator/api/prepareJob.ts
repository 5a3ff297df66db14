/**
 * Everything a job needs before its mode opens, whichever mode: the plan (jobPlan.ts: actor, files,
 * data, dry run), the pages' build, the output (opened, or found to resume), and the trusted
 * reference (--verify), with the settings every mode's job is built from (modes/jobMode.ts
 * JobContext). Closing it closes the output and the reference.
 */
import path from 'node:path';
import { rowRules } from '../actor/actorFromContent.ts';
import { ensureChromium } from '../browser/getBrowser.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { readInput } from '../io/inputReader.ts';
import { openSink, type JobSink } from '../io/outputSink.ts';
import type { JobContext } from '../modes/jobMode.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import { actorVerification, referenceConfigOf } from '../verify/actorVerification.ts';
import { Reference } from '../verify/reference.ts';
import { planJob, type JobPlan } from './jobPlan.ts';
import type { RunSummary } from './summary.ts';

export interface PreparedJob {
  plan: JobPlan;
  context: JobContext;
  sink: JobSink;
  cacheDir: string;
  webRoot: string;
  /** What the summary names: the model and the actor. */
  described: Pick<RunSummary, 'model' | 'actor'>;
  close(): Promise<void>;
}

export async function prepareJob(options: JobOptions, events: JobContext['events']): Promise<PreparedJob> {
  const log = (line: string): void => events.log(line);
  // Everything that can be wrong with the job's inputs fails here, before any browser starts.
  if (options.launch > 0) await ensureChromium(log);
  const cacheDir = path.resolve(options.cacheDir);
  const plan = await planJob(options, cacheDir);
  const { actor, model } = plan;
  for (const note of plan.notes) log(`note: ${note}`);
  const webRoot = await ensureWebBuild(undefined, log);
  const sink = await openSink(options.out, options.format, {
    resume: options.resume,
    overwrite: options.overwrite,
    columns: actor.columns,
    rowsPerPart: options.rowsPerPart,
  });
  if (sink.repairedTornLine) log(`resume: dropped a torn last record from ${options.out} (a crash mid-write)`);
  if (options.resume) log(`resume: ${sink.written.size} rows already in ${options.out}; they are skipped`);
  // The trusted reference: the job's own actor class, here, in a worker thread (--verify).
  const verified = { cls: actor.cls, config: actor.config, columns: actor.columns };
  const reference =
    options.verifyRate > 0
      ? new Reference({
          actor: actor.module ? { kind: 'module', file: actor.module.file } : { kind: 'builtin' },
          files: plan.files.map((f) => ({ name: f.name, path: f.path })),
          config: referenceConfigOf(verified),
          kind: { inputs: actor.inputs, preprocess: actor.preprocess, exifTranspose: plan.content.exifTranspose },
          threads: options.verifyCpu,
        })
      : null;
  const resolveUrl = plan.resolveUrl ?? (async (s: string) => s);
  const files = plan.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes }));
  const context: JobContext = {
    options,
    job: {
      name: `${actor.name}${model ? ` on ${model.name}` : ''}`,
      content: plan.content,
      dataset: plan.dataset,
      total: plan.count.total,
      actor: { name: actor.name, inputs: actor.inputs, files },
      actorMemory: plan.actorMemory,
      maxBatch: plan.maxBatch,
      fixedBatch: model?.info?.inputShape.batch ?? null,
      resolveUrl: plan.resolveUrl,
    },
    sink,
    verify: reference ? actorVerification(verified, reference, { rate: options.verifyRate, read: readInput, resolveUrl }) : undefined,
    rules: rowRules(actor.cls, actor),
    events,
  };
  return {
    plan,
    context,
    sink,
    cacheDir,
    webRoot,
    described: {
      model: model && { name: model.name, sha256: model.sha256, builtin: model.builtin },
      actor: { name: actor.name, inputs: actor.inputs },
    },
    close: async () => {
      await sink.close().catch(() => undefined);
      await reference?.close();
    },
  };
}
