/**
 * The HTTP side under slowloris and floods (coordinator/server/connectionGuard.ts), on the real
 * server: headers sent a byte at a time are cut off at the header timeout, an address with too many
 * connections short of a whole request has the next refused at once, and the model goes out to a
 * few clients at a time (429 with Retry-After to the rest, which the page's loader waits out).
 * Meanwhile a tab from another address loads the page, opens its socket and fetches the model.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startServer, type CoordinatorServer } from '../../../coordinator/server/httpServer.ts';
import { ROUTES } from '../../../shared/routes.ts';
import { loadFile } from '../../../web/worker/modelCache.ts';

const TOKEN = 'flood-test-token-123456';
const MODEL = new Uint8Array(4 * 2 ** 20).map((_, i) => (i * 31) & 255);
const SHA = createHash('sha256').update(MODEL).digest('hex');
const MODEL_ROUTE = `/model/${SHA}.onnx`;
const LIMITS = { headerTimeoutMs: 1000, requestTimeoutMs: 10_000, maxPendingPerAddress: 8, maxDownloads: 6, maxDownloadsPerAddress: 2 };
let server: CoordinatorServer;
let webRoot: string;

before(async () => {
  const fs = await import('node:fs/promises');
  const os = await import('node:os');
  const path = await import('node:path');
  webRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-flood-'));
  await fs.writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>worker</title>');
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    webRoot,
    tls: null,
    maxPayload: 2 ** 20,
    files: [{ route: MODEL_ROUTE, sha256: SHA, bytes: MODEL, contentType: 'application/octet-stream' }],
    status: () => ({}) as never,
    onSocket: () => undefined,
    log: () => undefined,
    limits: LIMITS,
  });
});
after(() => server.close());

/** A GET from `localAddress` (127.0.0.2 is another machine to the server: Linux routes all of 127/8 to lo). */
function get(route: string, localAddress = '127.0.0.1'): Promise<{ status: number; bytes: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.origin}${route}?token=${TOKEN}`, { localAddress, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.byteLength));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, retryAfter: res.headers['retry-after'] ?? null }));
    });
    req.on('error', reject);
  });
}

/** A slowloris client: the request line, then a header byte now and then, never the blank line. */
function slowClient(): { closedAt: Promise<number> } {
  const started = performance.now();
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  socket.on('error', () => undefined);
  socket.write('GET /worker/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const drip = setInterval(() => socket.writable && socket.write('a'), 100);
  return {
    closedAt: new Promise((resolve) =>
      socket.once('close', () => {
        clearInterval(drip);
        resolve(performance.now() - started);
      }),
    ),
  };
}

test('headers sent a byte at a time are cut at the header timeout; past 8 such connections an address is refused at once', async () => {
  const clients = Array.from({ length: 30 }, () => slowClient());
  // While the attack runs, a tab on another address gets the page and its socket.
  const page = await get(`${ROUTES.workerPage}`, '127.0.0.2');
  assert.equal(page.status, 200, 'the worker page, during the attack');
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${ROUTES.socket}?token=${TOKEN}`, { localAddress: '127.0.0.2' });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.close();
  const closed = await Promise.all(clients.map((c) => c.closedAt));
  const atOnce = closed.filter((ms) => ms < 500).length;
  const timedOut = closed.filter((ms) => ms >= LIMITS.headerTimeoutMs - 100 && ms < LIMITS.headerTimeoutMs + 2500).length;
  assert.equal(atOnce, 30 - LIMITS.maxPendingPerAddress, `refused at once: ${closed.map((m) => m.toFixed(0)).join(' ')}`);
  assert.equal(timedOut, LIMITS.maxPendingPerAddress, `cut at the header timeout: ${closed.map((m) => m.toFixed(0)).join(' ')}`);
});

test('the model fetched over and over: 2 at a time per address, 429 with Retry-After to the rest; the page loader waits', async () => {
  const flood = await Promise.all(Array.from({ length: 24 }, () => get(MODEL_ROUTE)));
  const served = flood.filter((r) => r.status === 200);
  const busy = flood.filter((r) => r.status === 429);
  assert.ok(served.length >= 2 && served.length < 24, `${served.length} served in full`);
  assert.equal(served.length + busy.length, 24);
  assert.ok(served.every((r) => r.bytes === MODEL.byteLength));
  assert.ok(busy.every((r) => r.retryAfter === '1'));
  // Another address is not held up by this one's flood.
  const other = get(MODEL_ROUTE, '127.0.0.2');
  // The page's own loader, from the flooding address, in the middle of another flood.
  const again = Promise.all(Array.from({ length: 24 }, () => get(MODEL_ROUTE)));
  const loaded = await loadFile(`${server.origin}${MODEL_ROUTE}?token=${TOKEN}`, SHA);
  assert.equal(loaded.bytes.byteLength, MODEL.byteLength);
  assert.equal((await other).status, 200);
  await again;
});
