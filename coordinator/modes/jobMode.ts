/**
 * One way a job runs, behind one interface (as Playwright's launch, launchServer and connect all
 * give one Browser): in this process with tabs served here (`run`), on a standing pool's tabs
 * (`run --on`), on a NATS JetStream queue (`run --queue`), and a queue's job served by a gateway,
 * with tabs served here (`tabpool gateway`) or lent by a head (`serve --queue`). Opening a mode
 * gives the running job, a promise that settles once tabs can join, and a close that undoes
 * whatever the mode opened, whatever state the job is in. Who runs the job (TabpoolJob, the
 * gateway command, the head's queue pool) supervises it the same way whatever the mode.
 */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { ToCoordinator } from '../../shared/protocol.ts';
import type { JobStatus } from '../../shared/status.ts';
import type { JobContent } from '../actor/tabSpec.ts';
import type { RowRules } from '../host/resultCheck.ts';
import type { Dataset } from '../io/dataset.ts';
import type { UrlResolver } from '../io/datasetFeeder.ts';
import type { JobSink } from '../io/outputSink.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { VerifySettings } from '../output/jobOutput.ts';
import type { JobEvents } from '../output/runningJob.ts';
import type { ActorLink } from '../pool/actor.ts';

/** Where a job's tabs join, once it serves. */
export interface StartedJob {
  /** The worker page this machine's tabs open (a standing pool's: its head's). */
  workerUrl: string;
  join: JobStatus['join'];
  /** The status page, with its token; null where a head serves the tabs (its own page lists the job). */
  statusUrl: string | null;
  /** The lines a person joins with (worker URLs, status page, fingerprint); empty where a head serves the tabs. */
  banner: string[];
  /** Other machines can reach it: worth a QR code on a terminal. */
  reachable: boolean;
  /** What the mode has to say once it serves (the queue job's name, the head it runs on, advice). */
  notes: string[];
}

/** How a job ended, for whoever lends its tabs (a standing pool's head lists it so). */
export interface Ending {
  status: 'done' | 'interrupted' | 'failed' | 'cancelled';
  message: string;
}

export interface OpenedMode<J> {
  readonly job: J;
  /** Settles once tabs can join (or rejects: the server could not listen, the head refused the job). */
  readonly started: Promise<StartedJob>;
  /** Closes what the mode opened (launched tabs, the server, the head's link, NATS), whatever state the job is in. */
  close(ending: Ending): Promise<void>;
}

export interface JobMode<J> {
  /** In words, for messages: `in this process`, `on the standing pool at URL`, `on queue job NAME`. */
  readonly describe: string;
  open(): Promise<OpenedMode<J>>;
}

/** What a tab's messages reach: the job's actor host, as a socket layer (or a head's relay) feeds it. */
export interface TabTarget {
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt: number): void;
  onClose(link: ActorLink, code: number, reason: string): void;
  /** A standing pool wants the tab back: it leaves at a batch boundary. */
  retire(link: ActorLink, reason: string): void;
  status(join: JobStatus['join']): JobStatus;
  /** The tabs could not be had (local tabs failed to launch; the head is gone for good). */
  fail(err: unknown): void;
  /** The head asks for the job to drain (`tabpool cancel`). */
  drain(): void;
}

/** Where a job's tabs come from: served by this process, or lent by a standing pool's head. */
export interface TabSource {
  /** What the job's tabs fetch its files with: this process's job token, or the head's grant. */
  readonly token: string;
  open(target: TabTarget): Promise<StartedJob>;
  /** Rows so far, for whoever lends the tabs. */
  progress(p: { total: number | null; done: number; errors: number }): void;
  close(ending: Ending): Promise<void>;
}

/** A job as planned before any browser starts (api/jobPlan.ts makes it): what every mode runs. */
export interface PlannedJob {
  /** The actor and model in words: `built-in classifier on resnet18`. */
  name: string;
  content: JobContent;
  dataset: Dataset;
  /** Inputs in the dataset (resumed rows included). */
  total: number;
  actor: { name: string; inputs: ActorInputs; files: JobStatus['job']['files'] };
  actorMemory: number;
  maxBatch: number;
  /** The model's fixed batch dimension, or null. */
  fixedBatch: number | null;
  resolveUrl: UrlResolver | undefined;
}

/** Everything a mode that runs a job with an output (`run`, with or without --on or --queue) is given. */
export interface JobContext {
  options: JobOptions;
  job: PlannedJob;
  sink: JobSink;
  verify: VerifySettings | undefined;
  rules: RowRules;
  events: JobEvents;
}
