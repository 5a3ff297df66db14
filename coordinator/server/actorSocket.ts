/**
 * One tab's WebSocket, as the coordinator guards it: every text frame parsed and validated,
 * binary frames refused (actors send none), floods cut off, a heartbeat that terminates a socket
 * whose pongs stop. A bad message closes that socket with a close code and a logged reason;
 * nothing a client sends can throw out of here into the job.
 */
import type { RawData, WebSocket } from 'ws';
import { CLOSE, type CloseCode } from '../../shared/closeCodes.ts';
import { parseToCoordinator, type ToActorJson, type ToCoordinator } from '../../shared/protocol.ts';
import type { ActorLink } from '../pool/actor.ts';

export interface SocketLimits {
  /** Messages per second before a client is treated as a flood. */
  maxMessagesPerSecond: number;
  /** A tab silent this long (no message, no pong to the pings sent meanwhile) is dropped (--heartbeat). */
  heartbeatMs: number;
}

export interface SocketEvents {
  /** `receivedAt`: when the frame arrived, before it was parsed (monotonic ms); `text`: the frame as it came (a relay passes it on). */
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt: number, text: string): void;
  onClose(link: ActorLink, code: number, reason: string): void;
  log(line: string): void;
}

export function attachActorSocket(ws: WebSocket, remote: string, limits: SocketLimits, events: SocketEvents): ActorLink {
  let closed = false;
  /** Set once the coordinator decides to close: nothing more from this client is acted on. */
  let closing = false;
  let windowStart = Date.now();
  let windowCount = 0;
  /** When anything last came from the client (a message, a pong): a closed lid sends nothing at all. */
  let lastHeard = performance.now();

  const link: ActorLink = {
    sendJson(msg: ToActorJson) {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    },
    sendBinary(frame: Uint8Array) {
      if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true });
    },
    close(code: CloseCode, reason: string) {
      if (closed || closing) return;
      closing = true;
      // Close reasons are limited to 123 bytes by the protocol.
      ws.close(code, Buffer.from(reason).subarray(0, 120).toString());
      // A client that never answers the close handshake is cut off.
      setTimeout(() => ws.terminate(), 2000).unref();
    },
  };

  const violate = (code: CloseCode, reason: string): void => {
    events.log(`closing ${remote}: ${reason}`);
    link.close(code, reason);
    // Out of the pool now, not when the close handshake ends: it must get no more batches.
    finish(code, reason);
  };
  const finish = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    events.onClose(link, code, reason);
  };

  // Pings three times a heartbeat, so a live tab answers well within it whatever its batches' size, and
  // looks for silence twelve times a heartbeat, so a silent one is dropped within 1/12 past it.
  const TICKS_PER_PING = 4;
  let ticks = 0;
  const heartbeat = setInterval(
    () => {
      const silent = performance.now() - lastHeard;
      if (silent > limits.heartbeatMs) {
        events.log(`terminating ${remote}: silent for ${(silent / 1000).toFixed(1)} s (--heartbeat ${limits.heartbeatMs / 1000}s)`);
        ws.terminate();
        return;
      }
      if (ticks++ % TICKS_PER_PING === 0) ws.ping();
    },
    Math.max(100, limits.heartbeatMs / (3 * TICKS_PER_PING)),
  );
  heartbeat.unref();

  ws.on('pong', () => {
    lastHeard = performance.now();
  });
  ws.on('message', (data: RawData, isBinary: boolean) => {
    // ws still delivers frames that arrive before the client's close reply; a flood would
    // otherwise log one violation per frame, and a result after a bad one would still count.
    if (closed || closing) return;
    const receivedAt = performance.now();
    lastHeard = receivedAt;
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      windowCount = 0;
    }
    if (++windowCount > limits.maxMessagesPerSecond) {
      violate(CLOSE.policyViolation, `flood: over ${limits.maxMessagesPerSecond} messages per second`);
      return;
    }
    if (isBinary) {
      violate(CLOSE.unsupportedData, 'binary frames are not accepted from actors');
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const parsed = parseToCoordinator(text);
    if (!parsed.ok) {
      violate(CLOSE.policyViolation, `invalid message: ${parsed.error}`);
      return;
    }
    try {
      events.onMessage(link, parsed.value, receivedAt, text);
    } catch (err) {
      violate(CLOSE.policyViolation, `message rejected: ${(err as Error).message}`);
    }
  });
  ws.on('error', (err) => {
    // ws reports oversize frames and bad framing here, then closes with 1009 / 1002.
    events.log(`socket error from ${remote}: ${err.message}`);
  });
  ws.on('close', (code, reason) => finish(code, reason.toString()));
  return link;
}
