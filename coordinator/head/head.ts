/**
 * A standing pool's head (`tabpool serve`): tabs join it once and stay; jobs come and go. Each
 * job runs in the process that submitted it (`tabpool run --on`), which reads the dataset, runs
 * its actor host and writes its rows as always; the head lends it tabs, one numbered channel per
 * tab, relaying the tab's own protocol both ways, and takes them back at batch boundaries. The
 * head owns placement (placement.ts: budgets per host across jobs, minimums, weights,
 * priorities), the jobs' records (kept in --state) and the pool's status.
 */
import { timingSafeEqual } from 'node:crypto';
import { decodeBatchFrame } from '../../shared/batchFrame.ts';
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import {
  POOL_PROTOCOL_VERSION,
  splitChannelFrame,
  type JobRecord,
  type JobRecordStatus,
  type SubmitMessage,
  type ToHead,
} from '../../shared/poolProtocol.ts';
import type { PoolStatus } from '../../shared/poolStatus.ts';
import { PROTOCOL_VERSION, type ToCoordinator } from '../../shared/protocol.ts';
import type { ActorLink } from '../pool/actor.ts';
import { poolPolicy } from '../pool/epPolicy.ts';
import type { HeadState } from './headState.ts';
import type { RateSeries } from './timeSplit.ts';
import { place, shares, type PlacedJob } from './placement.ts';
import { IDLE_REASON, makeIdle, newTab, placedTab, retime, tabStatus, type PoolTab } from './poolTabs.ts';
import { isTerminal, jobsStatus, newPoolJob, relayToTab, submittedJob, type PoolJob, type SubmitLink } from './poolJobs.ts';

export type { SubmitLink };

export interface HeadOptions {
  /** A job whose submitting process went away and did not come back in this long fails (resumable). */
  submitterTimeoutMs: number;
  log(line: string): void;
  now?: () => number;
}

/** Finished jobs whose throughput the status page still plots. */
const HISTORY = 20;
/** How often each job's rows are sampled for its throughput plot. */
const SAMPLE_MS = 2000;

/** Codes a job closes a tab with for breaking the protocol: the tab's own socket closes with it. */
const VIOLATIONS: ReadonlySet<number> = new Set([CLOSE.badResult, CLOSE.policyViolation, CLOSE.unsupportedData, CLOSE.tooBig]);

export class Head {
  private readonly tabs = new Map<ActorLink, PoolTab>();
  private readonly jobs = new Map<string, PoolJob>();
  /** Finished jobs' throughput, for the status page (the latest few). */
  private readonly history = new Map<string, RateSeries>();
  private readonly now: () => number;
  private readonly sampler: NodeJS.Timeout;
  private readonly startedAt: number;
  private tabSeq = 0;
  private channelSeq = 0;
  private scheduled = false;

  constructor(
    private readonly state: HeadState,
    private readonly o: HeadOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    // Jobs that were running when the head stopped wait for their submitting processes to reconnect.
    for (const stored of state.unfinished()) {
      const job = newPoolJob(stored, poolPolicy(stored.record.placement));
      this.jobs.set(job.id, job);
      this.disconnected(job, 'the head restarted');
    }
    this.sampler = setInterval(() => {
      for (const j of this.jobs.values()) if (!isTerminal(this.record(j).status)) j.series.sample(this.now(), this.record(j).done);
    }, SAMPLE_MS);
    this.sampler.unref();
  }

  /** A served job's record, as the state keeps it. */
  private record(job: PoolJob): Readonly<JobRecord> {
    return this.state.job(job.id)!.record;
  }

  // ------------------------------------------------------------------ tabs

  /** A validated message from a tab's socket. Throws on a protocol violation (the socket layer closes it). */
  onTabMessage(link: ActorLink, msg: ToCoordinator, text?: string): void {
    const tab = this.tabs.get(link);
    if (msg.type === 'hello') {
      if (tab) throw new Error('hello sent twice');
      if (msg.protocol !== PROTOCOL_VERSION) {
        link.sendJson({
          type: 'shutdown',
          reason: `this page speaks protocol ${msg.protocol}, the head ${PROTOCOL_VERSION}; reload the page`,
        });
        return link.close(CLOSE.policyViolation, 'protocol version mismatch');
      }
      const t = newTab(`tab-${++this.tabSeq}`, link, msg, this.now());
      this.tabs.set(link, t);
      link.sendJson({
        type: 'welcome',
        protocol: PROTOCOL_VERSION,
        actorId: t.id,
        status: 'idle',
        reason: IDLE_REASON,
        job: null,
        serving: null,
      });
      this.o.log(`${t.id} joined (host ${msg.hostId}); ${this.tabs.size} tab(s) in the pool`);
      return this.schedule();
    }
    if (!tab) throw new Error(`${msg.type} before hello`);
    const job = tab.job === null ? undefined : this.jobs.get(tab.job);
    // An answer for a job the tab no longer serves is dropped: it belongs to an actor that is gone.
    if (!job?.conn || tab.channel === null) return;
    if (msg.type === 'ready') {
      tab.state = tab.releasing ? 'releasing' : 'ready';
      tab.ep = msg.ep;
      tab.modelFromCache = msg.modelFromCache;
      tab.budget = job.policy.budgetFor(msg.ep);
      if (this.record(job).status === 'queued') this.setStatus(job, 'running', null);
    } else if (msg.type === 'result' || msg.type === 'batch-failed') {
      if (tab.inFlight.delete(msg.batchId) && msg.type === 'result') {
        tab.batches++;
        tab.items += msg.items.length;
      }
    } else if (msg.type === 'actor-error') {
      // It cannot load this job's actor: offering it again would fail the same way.
      job.excludedTabs.add(tab.id);
    }
    retime(tab, this.now());
    // Validated already: passed on as it came (a batch's answers are the largest messages the head relays).
    job.conn.send({ type: 'tab-text', channel: tab.channel, text: text ?? JSON.stringify(msg) });
  }

  onTabClose(link: ActorLink, code: number, reason: string): void {
    const tab = this.tabs.get(link);
    if (!tab) return;
    this.tabs.delete(link);
    const job = tab.job === null ? undefined : this.jobs.get(tab.job);
    if (job && tab.channel !== null) {
      job.channels.delete(tab.channel);
      job.conn?.send({ type: 'tab-close', channel: tab.channel, code, reason });
    }
    this.o.log(`${tab.id} left (${code}${reason ? ` ${reason}` : ''}); ${this.tabs.size} tab(s) in the pool`);
    this.schedule();
  }

  // ------------------------------------------------------------------ submitting processes

  /** A submitting process connected; returns what its socket layer feeds (messages validated there). */
  onSubmitter(conn: SubmitLink): { message(msg: ToHead): void; binary(data: Uint8Array): void; closed(): void } {
    let job: PoolJob | null = null;
    return {
      message: (msg) => {
        if (msg.type === 'submit') {
          if (job) throw new Error('submit sent twice');
          job = this.submit(conn, msg);
          return;
        }
        if (!job) throw new Error(`${msg.type} before submit`);
        this.fromSubmitter(job, msg);
      },
      binary: (data) => {
        const split = splitChannelFrame(data);
        const tab = split && job?.channels.get(split.channel);
        if (!split || !tab) return;
        const header = decodeBatchFrame(split.frame).header as { batchId?: unknown };
        if (typeof header.batchId === 'number') tab.inFlight.add(header.batchId);
        retime(tab, this.now());
        tab.link.sendBinary(split.frame);
      },
      closed: () => {
        if (job && job.conn === conn) this.disconnected(job, 'its submitting process disconnected');
      },
    };
  }

  private submit(conn: SubmitLink, msg: SubmitMessage): PoolJob | null {
    const refuse = (code: 'SUBMIT_REFUSED' | 'JOB_FAILED', message: string): null => {
      conn.send({ type: 'refused', code, message });
      conn.close(CLOSE.normal, 'refused');
      return null;
    };
    if (msg.protocol !== POOL_PROTOCOL_VERSION)
      return refuse(
        'SUBMIT_REFUSED',
        `this tabpool speaks pool protocol ${msg.protocol}, the head ${POOL_PROTOCOL_VERSION}; use the same version`,
      );
    const missing = msg.files.filter((f) => !this.state.hasFile(f));
    if (missing.length)
      return refuse('SUBMIT_REFUSED', `the head has no file ${missing.join(', ')}; upload it first (${'PUT /api/files/'})`);
    const known = this.jobs.get(msg.jobId) ?? null;
    const stored = this.state.job(msg.jobId);
    if (stored && !known)
      return refuse('JOB_FAILED', `job ${msg.jobId} already ended (${stored.record.status}); run it again with --resume`);
    if (known) {
      const a = Buffer.from(known.secret);
      const b = Buffer.from(msg.secret);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return refuse('SUBMIT_REFUSED', `job ${msg.jobId} belongs to another process`);
      known.conn?.close(CLOSE.normal, 'replaced by a reconnect');
      known.conn = conn;
      clearTimeout(known.expiry ?? undefined);
      known.expiry = null;
      this.setStatus(known, 'queued', null);
      conn.send({ type: 'accepted', jobId: msg.jobId, reattached: true });
      this.o.log(`job ${msg.jobId} (${this.record(known).name}): its submitting process is back`);
      this.schedule();
      return known;
    }
    const submitted = submittedJob(msg, this.now());
    this.state.add(submitted);
    const job = newPoolJob(submitted, poolPolicy(msg.placement));
    job.conn = conn;
    this.jobs.set(job.id, job);
    conn.send({ type: 'accepted', jobId: msg.jobId, reattached: false });
    const p = msg.placement;
    this.o.log(`job ${msg.jobId} (${msg.name}) submitted: pool ${p.pool.min}..${p.pool.max}, weight ${p.weight}, priority ${p.priority}`);
    this.schedule();
    return job;
  }

  private fromSubmitter(job: PoolJob, msg: Exclude<ToHead, SubmitMessage>): void {
    switch (msg.type) {
      case 'progress':
        this.state.update(job.id, { total: msg.total, done: msg.done, errors: msg.errors });
        return;
      case 'finished':
        this.setStatus(job, msg.status, msg.message);
        this.endJob(job, `${IDLE_REASON} (${this.record(job).name}: ${msg.status})`);
        job.conn = null;
        return;
      case 'tab-text':
        return this.toTab(job, msg.channel, msg.text);
      case 'tab-close': {
        const tab = job.channels.get(msg.channel);
        if (!tab) return;
        job.channels.delete(msg.channel);
        if (msg.code === CLOSE.barred) job.excludedTabs.add(tab.id);
        if (VIOLATIONS.has(msg.code)) tab.link.close(msg.code as CloseCode, msg.reason);
        else makeIdle(tab, `${IDLE_REASON} (${this.record(job).name}: ${msg.reason || 'released'})`, this.now());
        return this.schedule();
      }
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  /** A job's message to one of its tabs: relayed, but only what a tab lent to a job may hear. */
  private toTab(job: PoolJob, channel: number, text: string): void {
    const tab = job.channels.get(channel);
    if (tab && relayToTab(job, tab, channel, text, `${this.record(job).name} (${job.id})`, this.now()) === 'given back') this.schedule();
  }

  /** The job's submitting process is gone: its tabs go back to the pool now; it may reattach until the timeout. */
  private disconnected(job: PoolJob, why: string): void {
    job.conn = null;
    this.endJob(job, `${IDLE_REASON} (${this.record(job).name}: ${why})`);
    const s = this.o.submitterTimeoutMs / 1000;
    this.setStatus(job, 'disconnected', `${why}; waiting ${s}s for it to reconnect`);
    clearTimeout(job.expiry ?? undefined);
    job.expiry = setTimeout(() => {
      if (job.conn) return;
      this.setStatus(
        job,
        'failed',
        `${why} and did not come back within ${s}s; its rows so far are written, and the same run with --resume finishes it`,
      );
      this.jobs.delete(job.id);
    }, this.o.submitterTimeoutMs);
    job.expiry.unref();
  }

  private endJob(job: PoolJob, idleReason: string): void {
    for (const tab of job.channels.values()) makeIdle(tab, idleReason, this.now());
    job.channels.clear();
    if (isTerminal(this.record(job).status)) {
      clearTimeout(job.expiry ?? undefined);
      job.series.sample(this.now(), this.record(job).done);
      this.jobs.delete(job.id);
      this.history.set(job.id, job.series);
      for (const id of [...this.history.keys()].slice(0, Math.max(0, this.history.size - HISTORY))) this.history.delete(id);
    }
    this.schedule();
  }

  private setStatus(job: PoolJob, status: JobRecordStatus, message: string | null): void {
    this.state.update(job.id, { status, message, ...(isTerminal(status) ? { endedAt: this.now() } : {}) });
  }

  /** `tabpool cancel JOB`: the job drains (its submitting process finishes the batches out and ends, resumable). */
  cancel(jobId: string): Readonly<JobRecord> | null {
    const job = this.jobs.get(jobId);
    if (!job) return this.state.job(jobId)?.record ?? null;
    if (job.conn) {
      job.conn.send({ type: 'cancel', reason: 'cancelled with tabpool cancel' });
      this.state.update(job.id, { message: 'cancel requested: batches out finish, then it ends (--resume finishes it)' });
    } else {
      this.setStatus(job, 'cancelled', 'cancelled while its submitting process was away; --resume finishes it');
      this.endJob(job, IDLE_REASON);
    }
    return this.state.job(jobId)?.record ?? null;
  }

  // ------------------------------------------------------------------ placement

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.place();
    });
  }

  private placedJobs(): PlacedJob[] {
    return [...this.jobs.values()].map((j) => ({
      id: j.id,
      placement: this.record(j).placement,
      policy: j.policy,
      submittedAt: this.record(j).submittedAt,
      open: j.conn !== null && (this.record(j).status === 'queued' || this.record(j).status === 'running'),
      excludedTabs: j.excludedTabs,
      excludedHosts: j.excludedHosts,
    }));
  }

  private place(): void {
    const tabs = [...this.tabs.values()];
    const byId = new Map(tabs.map((t) => [t.id, t]));
    const plan = place(tabs.map(placedTab), this.placedJobs());
    for (const a of plan.assign) {
      const tab = byId.get(a.tab)!;
      const job = this.jobs.get(a.job)!;
      const channel = ++this.channelSeq;
      Object.assign(tab, { job: a.job, channel, budget: a.budget, state: 'loading', releasing: null });
      job.channels.set(channel, tab);
      retime(tab, this.now());
      const hello = a.pinWasm ? { ...tab.hello, pinnedEp: 'wasm' as const } : tab.hello;
      job.conn!.send({ type: 'tab-open', channel, hostId: tab.hello.hostId, tabId: tab.id });
      job.conn!.send({ type: 'tab-text', channel, text: JSON.stringify(hello) });
    }
    for (const r of plan.release) {
      const tab = byId.get(r.tab)!;
      const job = this.jobs.get(r.job)!;
      tab.releasing = r.for;
      if (tab.state === 'ready') tab.state = 'releasing';
      job.conn?.send({ type: 'release', channel: tab.channel!, reason: `job ${r.for} is below its share` });
    }
  }

  /** Whether `grant` is a live job's, and the job has this file: only its tabs are told the grant. */
  grantAllows(grant: string, sha256: string): boolean {
    for (const j of this.jobs.values()) if (j.grant === grant && j.files.includes(sha256)) return true;
    return false;
  }

  // ------------------------------------------------------------------ status

  status(join: { workerUrls: string[]; tlsFingerprint: string | null; heartbeatMs: number }): PoolStatus {
    const now = this.now();
    const tabs = [...this.tabs.values()];
    const placed = this.placedJobs();
    return {
      head: { startedAt: this.startedAt, ...join, stateError: this.state.writeError },
      ...jobsStatus(tabs, this.state.records(), this.jobs, this.history, shares(placed, tabs.length)),
      tabs: tabs.map((t) => tabStatus(t, now)),
    };
  }

  close(): void {
    clearInterval(this.sampler);
    for (const j of this.jobs.values()) clearTimeout(j.expiry ?? undefined);
  }
}
