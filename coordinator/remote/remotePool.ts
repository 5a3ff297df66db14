/**
 * The submitting side of a standing pool (`tabpool run --on URL`): uploads the job's files to the
 * head (once: it keeps them by sha256), submits the job, and turns each tab the head lends into an
 * ActorLink for the job's own actor host, so that everything a job means (batches, verification,
 * resume, the output on this machine) is what it means without --on. A lost connection (the head
 * restarting) closes every lent tab, as a socket closing would, and reconnects with backoff; the
 * job reattaches by its id and secret and goes on. Only a head gone longer than `headTimeoutMs`
 * fails the job (HEAD_UNREACHABLE, resumable).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { WebSocket, type RawData } from 'ws';
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import { TabpoolError } from '../../shared/errors.ts';
import {
  channelFrame,
  parseToSubmitter,
  POOL_PROTOCOL_VERSION,
  type Placement,
  type ToHead,
  type ToSubmitter,
} from '../../shared/poolProtocol.ts';
import { parseToCoordinator, type ToActorJson, type ToCoordinator } from '../../shared/protocol.ts';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import type { ActorLink } from '../pool/actor.ts';

export interface RemoteJob {
  name: string;
  placement: Placement;
  out: string;
  total: number | null;
  /** The job's files (every model file, the actor module), uploaded before it is submitted, each streamed from disk. */
  files: { sha256: string; path: string; bytes: number }[];
}

/** The job's actor host, as the lent tabs reach it (what a socket layer feeds), and the hand-back. */
export interface RemoteTarget {
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt: number): void;
  onClose(link: ActorLink, code: number, reason: string): void;
  retire(link: ActorLink, reason: string): void;
}

export interface RemoteEvents {
  log(line: string): void;
  /** `tabpool cancel`: drain the job. */
  cancel(reason: string): void;
  /** The head is gone for good (or refused the job): fail it. */
  fail(err: TabpoolError): void;
}

export class RemotePool {
  /** Chosen here, so a reconnect (or a restarted head) knows the job again. */
  readonly jobId = `j${randomBytes(6).toString('hex')}`;
  /** The token the job's tabs fetch its files with. */
  readonly grant = randomBytes(18).toString('base64url');
  private readonly secret = randomBytes(24).toString('base64url');
  private ws: WebSocket | null = null;
  private readonly links = new Map<number, ActorLink>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private awaySince: number | null = null;

  constructor(
    private readonly origin: string,
    private readonly submitToken: string,
    private readonly job: RemoteJob,
    private readonly target: RemoteTarget,
    private readonly events: RemoteEvents,
    private readonly headTimeoutMs = 120_000,
    /** A certificate to trust for an https head (the head's own, when it submits to itself). */
    private readonly ca: string | Buffer | null = null,
  ) {}

  /** Uploads the files and submits; resolves once the head accepted the job. */
  async start(): Promise<void> {
    for (const f of this.job.files) await this.upload(f);
    await this.connect();
  }

  /** Rows so far, for the head's job list and status page. */
  progress(p: { total: number | null; done: number; errors: number }): void {
    this.send({ type: 'progress', ...p });
  }

  /** The job ended here: the head gives its tabs back to the pool. */
  finish(status: 'done' | 'failed' | 'cancelled', message: string): void {
    this.send({ type: 'finished', status, message: message.slice(0, 4000) });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (!ws) return;
    // Let the last messages (finished) go before the socket closes.
    if (ws.readyState === ws.OPEN) ws.close(CLOSE.normal, 'job over');
    else ws.terminate();
  }

  private url(route: string): string {
    return `${this.origin}${route}?${TOKEN_PARAM}=${encodeURIComponent(this.submitToken)}`;
  }

  private async upload(f: RemoteJob['files'][number]): Promise<void> {
    const url = this.url(`${ROUTES.filesApi}${f.sha256}`);
    const unreachable = (err: unknown): never => {
      throw new TabpoolError(
        'HEAD_UNREACHABLE',
        `the head at ${this.origin} could not be reached: ${(err as Error).message}; is tabpool serve running there?`,
      );
    };
    const have = await request(url, 'HEAD', null, this.ca).catch(unreachable);
    if (have.status === 401) throw refusedToken(this.origin);
    if (have.status === 200) return;
    const put = await request(url, 'PUT', f, this.ca).catch(unreachable);
    if (put.status !== 201 && put.status !== 200)
      throw new TabpoolError('SUBMIT_REFUSED', `the head refused the upload of ${f.sha256.slice(0, 12)}…: HTTP ${put.status} ${put.body}`);
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url(ROUTES.submitSocket).replace(/^http/, 'ws'), {
        maxPayload: 512 * 2 ** 20,
        ...(this.ca ? { ca: this.ca } : {}),
      });
      this.ws = ws;
      let settled = false;
      let acceptedHere = false;
      ws.on('open', () => {
        const j = this.job;
        this.send({
          type: 'submit',
          protocol: POOL_PROTOCOL_VERSION,
          jobId: this.jobId,
          secret: this.secret,
          name: j.name.slice(0, 256),
          grant: this.grant,
          files: j.files.map((f) => f.sha256),
          placement: j.placement,
          out: j.out.slice(0, 4096),
          total: j.total,
        });
      });
      ws.on('unexpected-response', (_req, res) => {
        settled = true;
        reject(
          res.statusCode === 401
            ? refusedToken(this.origin)
            : new TabpoolError('HEAD_UNREACHABLE', `the head answered HTTP ${res.statusCode}`),
        );
        ws.terminate();
      });
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (isBinary) return;
        const parsed = parseToSubmitter(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
        if (!parsed.ok) return this.events.log(`the head sent a message this tabpool does not understand: ${parsed.error}`);
        const msg = parsed.value;
        if (msg.type === 'accepted') {
          this.awaySince = null;
          if (msg.reattached) this.events.log(`reattached to the head at ${this.origin} as job ${msg.jobId}`);
          acceptedHere = true;
          settled = true;
          return resolve();
        }
        if (msg.type === 'refused') {
          const err = new TabpoolError(msg.code, `the head refused the job: ${msg.message}`);
          if (settled) return this.events.fail(err);
          settled = true;
          return reject(err);
        }
        this.fromHead(msg);
      });
      ws.on('error', (err) => {
        if (!settled) {
          settled = true;
          reject(
            new TabpoolError(
              'HEAD_UNREACHABLE',
              `the head at ${this.origin} could not be reached: ${err.message}; is tabpool serve running there?`,
            ),
          );
        }
      });
      ws.on('close', () => {
        if (!settled) {
          settled = true;
          reject(new TabpoolError('HEAD_UNREACHABLE', `the head at ${this.origin} closed the connection before accepting the job`));
        }
        if (this.ws !== ws) return;
        this.dropLinks();
        // A try that never got in is retried by whoever made it (start fails, retry backs off).
        if (this.closed || !acceptedHere) return;
        this.awaySince ??= Date.now();
        this.events.log(`lost the head at ${this.origin}; reconnecting (the job goes on once it is back)`);
        this.retry(500);
      });
    });
  }

  private retry(delay: number): void {
    if (this.closed) return;
    if (Date.now() - (this.awaySince ?? Date.now()) > this.headTimeoutMs) {
      return this.events.fail(
        new TabpoolError(
          'HEAD_UNREACHABLE',
          `the head at ${this.origin} was gone over ${this.headTimeoutMs / 1000}s; ` +
            'the rows so far are written, and --resume finishes the job',
        ),
      );
    }
    // Not unref'd: while the head is away the pending reconnect is all this job is doing, and a process with
    // nothing else to wait on (the Node API, a quiet run) must not exit under it. close() clears it.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closed) return;
      this.connect().catch(() => this.retry(Math.min(5000, delay * 2)));
    }, delay);
  }

  private dropLinks(): void {
    const links = [...this.links.values()];
    this.links.clear();
    for (const l of links) this.target.onClose(l, 1006, 'the connection to the head was lost');
  }

  private send(msg: ToHead): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** The head's word about the tabs it lends (the job accepted, it opens, relays, closes and takes back channels). */
  private fromHead(msg: Exclude<ToSubmitter, { type: 'accepted' | 'refused' }>): void {
    switch (msg.type) {
      case 'tab-open':
        return void this.links.set(msg.channel, this.linkFor(msg.channel));
      case 'tab-text':
        return this.fromTab(msg.channel, msg.text);
      case 'tab-close': {
        const link = this.links.get(msg.channel);
        this.links.delete(msg.channel);
        if (link) this.target.onClose(link, msg.code, msg.reason);
        return;
      }
      case 'release': {
        const link = this.links.get(msg.channel);
        if (link) this.target.retire(link, msg.reason);
        return;
      }
      case 'cancel':
        return this.events.cancel(msg.reason);
      default: {
        const check: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(check)}`);
      }
    }
  }

  private fromTab(channel: number, text: string): void {
    const link = this.links.get(channel);
    if (!link) return;
    const parsed = parseToCoordinator(text);
    try {
      if (!parsed.ok) throw new Error(`invalid message: ${parsed.error}`);
      this.target.onMessage(link, parsed.value, performance.now());
    } catch (err) {
      this.events.log(`closing tab channel ${channel}: ${(err as Error).message}`);
      link.close(CLOSE.policyViolation, (err as Error).message);
      this.links.delete(channel);
      this.target.onClose(link, CLOSE.policyViolation, (err as Error).message);
    }
  }

  private linkFor(channel: number): ActorLink {
    return {
      sendJson: (msg: ToActorJson) => {
        if (this.links.has(channel)) this.send({ type: 'tab-text', channel, text: JSON.stringify(msg) });
      },
      sendBinary: (frame: Uint8Array) => {
        if (this.links.has(channel) && this.ws?.readyState === WebSocket.OPEN) this.ws.send(channelFrame(channel, frame), { binary: true });
      },
      close: (code: CloseCode, reason: string) => {
        if (!this.links.delete(channel)) return;
        this.send({ type: 'tab-close', channel, code, reason: reason.slice(0, 200) });
      },
    };
  }
}

/**
 * One HTTP(S) request (node:http, so an https head's own certificate can be trusted with `ca`); a body is a
 * file on disk, streamed (a model of gigabytes costs a buffer, not its size).
 */
function request(
  url: string,
  method: 'HEAD' | 'PUT',
  body: { path: string; bytes: number } | null,
  ca: string | Buffer | null,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? https.request : http.request;
    const req = send(u, { method, ...(ca ? { ca } : {}), headers: body ? { 'content-length': body.bytes } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    if (!body) return void req.end();
    const file = createReadStream(body.path, { highWaterMark: 1 << 20 });
    file.on('error', (err) => req.destroy(err));
    file.pipe(req);
  });
}

function refusedToken(origin: string): TabpoolError {
  return new TabpoolError(
    'SUBMIT_REFUSED',
    `the head at ${origin} refused the submit token; give the one tabpool serve printed (--submit-token or TABPOOL_SUBMIT_TOKEN)`,
  );
}
