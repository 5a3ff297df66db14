/**
 * A measured window over a run of simulated actors: it opens when every actor is ready and closes
 * when a set number of batches has been handed out, and reads a probe (CPU seconds of processes,
 * bytes on the actors' sockets) at both ends, so a figure per batch divides what was spent over
 * exactly the batches counted between them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

export interface Mark<P> {
  at: number;
  batches: number;
  probe: P;
}

export class CountedWindow<P> {
  start: Mark<P> | null = null;
  end: Mark<P> | null = null;

  /** Closes at the `endAt`th batch handed out. */
  constructor(
    readonly endAt: number,
    private readonly probe: () => P,
  ) {}

  /** Every actor is ready: `batches` have been handed out so far. */
  open(batches: number): void {
    if (!this.start) this.start = { at: performance.now(), batches, probe: this.probe() };
  }

  /** A batch was handed out; `batches` is the running count. */
  batch(batches: number): void {
    if (this.start && !this.end && batches >= this.endAt) this.end = { at: performance.now(), batches, probe: this.probe() };
  }

  /** Batches handed out, and seconds, between the two marks; null when the window never closed. */
  span(): { batches: number; seconds: number; start: P; end: P } | null {
    if (!this.start || !this.end || this.end.batches <= this.start.batches) return null;
    return {
      batches: this.end.batches - this.start.batches,
      seconds: (this.end.at - this.start.at) / 1000,
      start: this.start.probe,
      end: this.end.probe,
    };
  }
}

/** CPU seconds (user + system) a process has used so far, read at once from /proc; NaN once it is gone. */
export function cpuSecondsNow(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    // After the command: field 3 is state, so utime and stime (fields 14 and 15) are at 11 and 12; in clock ticks (100 a second).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Bytes on the simulated actors' TCP sockets (WebSocket frames and their headers, both ways), as Node counts them. */
export class SocketBytes {
  private readonly sockets: Socket[] = [];

  /** Call before the socket opens: the upgrade response carries the socket the WebSocket then uses. */
  attach(ws: WebSocket): void {
    ws.once('upgrade', (res) => this.sockets.push(res.socket));
  }

  /** Read by the actors (sent by the coordinator) and written by them (received by the coordinator), so far. */
  now(): { toActors: number; fromActors: number } {
    let toActors = 0;
    let fromActors = 0;
    for (const s of this.sockets) {
      toActors += s.bytesRead;
      fromActors += s.bytesWritten;
    }
    return { toActors, fromActors };
  }
}

/** CPU seconds (user + system) of each thread of a process, by thread id, with its name; empty once it is gone. */
export function threadCpu(pid: number): Map<string, { name: string; seconds: number }> {
  const out = new Map<string, { name: string; seconds: number }>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = /\((.*)\)/.exec(text)?.[1] ?? '?';
      const fields = text.replace(/^.*\) /, '').split(' ');
      out.set(tid, { name: tid === String(pid) ? 'main' : name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    }
  } catch {
    /* a thread ended between the listing and the read, or the process is gone */
  }
  return out;
}
