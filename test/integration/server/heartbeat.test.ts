/**
 * --heartbeat on the guarded actor socket (coordinator/server/actorSocket.ts): a client that goes
 * silent (its socket paused: no message and no pong, as a closed lid or a SIGSTOPped browser) is
 * dropped within the heartbeat and a twelfth; one that answers pings stays however long it computes.
 * The same with a real browser process tree SIGSTOPped: test/e2e/faults.spec.ts.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { attachActorSocket } from '../../../coordinator/server/actorSocket.ts';

async function serve(heartbeatMs: number): Promise<{ url: string; closed: Promise<{ at: number; code: number }>; stop(): void }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  let resolveClosed!: (v: { at: number; code: number }) => void;
  const closed = new Promise<{ at: number; code: number }>((r) => (resolveClosed = r));
  wss.on('connection', (ws) =>
    attachActorSocket(
      ws,
      'test',
      { maxMessagesPerSecond: 1000, heartbeatMs },
      { onMessage: () => undefined, onClose: (_l, code) => resolveClosed({ at: performance.now(), code }), log: () => undefined },
    ),
  );
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, closed, stop: () => wss.close() };
}

test('a client gone silent (no message, no pong) is dropped within the heartbeat and a twelfth of it', async () => {
  const server = await serve(1200);
  const client = new WebSocket(server.url);
  await new Promise((r) => client.once('open', r));
  const silentAt = performance.now();
  // Paused: the client reads nothing, so it answers no ping, as a frozen process.
  client.pause();
  const { at } = await server.closed;
  const seconds = (at - silentAt) / 1000;
  assert.ok(seconds >= 1.2 && seconds <= 1.2 * (13 / 12) + 0.6, `dropped after ${seconds.toFixed(2)} s with --heartbeat 1.2s`);
  client.terminate();
  server.stop();
});

test('a client that answers pings stays past many heartbeats, though it sends no message', async () => {
  const server = await serve(600);
  const client = new WebSocket(server.url);
  await new Promise((r) => client.once('open', r));
  let pings = 0;
  client.on('ping', () => pings++);
  const outcome = await Promise.race([server.closed.then(() => 'closed'), until(() => pings >= 8).then(() => 'alive')]);
  assert.equal(outcome, 'alive', `closed after ${pings} pings`);
  client.close();
  server.stop();
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}
