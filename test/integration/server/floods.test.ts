/**
 * The HTTP side under slowloris and floods (coordinator/server/connectionGuard.ts), on the real
 * server: headers sent a byte at a time are cut off at the header timeout; an address's slow
 * connections past the limit are closed, oldest first, when it opens another (so a tab behind the
 * attacker's NAT gets in), and a burst past the burst limit is refused at once, while a burst of tabs
 * under it is not; the model goes out to a few clients at a time (429 with Retry-After to the rest,
 * which the page's loader waits out). Meanwhile a tab from another address loads the page, opens its
 * socket and fetches the model.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { guardConnections, serverOptions } from '../../../coordinator/server/connectionGuard.ts';
import { startServer, type CoordinatorServer } from '../../../coordinator/server/httpServer.ts';
import { ROUTES } from '../../../shared/routes.ts';
import { loadFile } from '../../../web/worker/modelCache.ts';

const TOKEN = 'flood-test-token-123456';
const MODEL = new Uint8Array(4 * 2 ** 20).map((_, i) => (i * 31) & 255);
const SHA = createHash('sha256').update(MODEL).digest('hex');
const MODEL_ROUTE = `/model/${SHA}`;
const LIMITS = {
  headerTimeoutMs: 2000,
  requestTimeoutMs: 10_000,
  maxPendingPerAddress: 8,
  slowAfterMs: 300,
  maxBurstPerAddress: 40,
  maxDownloads: 6,
  maxDownloadsPerAddress: 2,
};
let server: CoordinatorServer;
let webRoot: string;

before(async () => {
  const fs = await import('node:fs/promises');
  const os = await import('node:os');
  const path = await import('node:path');
  webRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-flood-'));
  await fs.writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>worker</title>');
  await fs.writeFile(path.join(webRoot, 'model.bin'), MODEL);
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    webRoot,
    tls: null,
    maxPayload: 2 ** 20,
    files: [
      {
        route: MODEL_ROUTE,
        sha256: SHA,
        path: path.join(webRoot, 'model.bin'),
        bytes: MODEL.byteLength,
        contentType: 'application/octet-stream',
      },
    ],
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

function openSocket(localAddress: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${ROUTES.socket}?token=${TOKEN}`, { localAddress });
  return new Promise((resolve, reject) => ws.once('open', () => resolve(ws)).once('error', reject));
}

test('slowloris: cut at the header timeout, the oldest closed when the address opens more, refused past the burst limit', async () => {
  const clients = Array.from({ length: 50 }, () => slowClient());
  // While the attack runs, a tab on another address gets the page and its socket.
  assert.equal((await get(`${ROUTES.workerPage}`, '127.0.0.2')).status, 200, 'the worker page, during the attack');
  (await openSocket('127.0.0.2')).close();
  // Once the attack's connections count as slow (a time the rule is written in, so the test waits it
  // out), a tab behind the attacker's own address gets in: its first connection closes the oldest.
  await new Promise((r) => setTimeout(r, LIMITS.slowAfterMs + 200));
  assert.equal((await get(`${ROUTES.workerPage}`)).status, 200, 'the worker page, from the attacking address');
  (await openSocket('127.0.0.1')).close();
  const closed = await Promise.all(clients.map((c) => c.closedAt));
  const times = closed.map((m) => m.toFixed(0)).join(' ');
  const refused = closed.filter((ms) => ms < LIMITS.slowAfterMs).length;
  const evicted = closed.filter((ms) => ms >= LIMITS.slowAfterMs && ms < LIMITS.headerTimeoutMs - 100).length;
  const timedOut = closed.filter((ms) => ms >= LIMITS.headerTimeoutMs - 100 && ms < LIMITS.headerTimeoutMs + 2500).length;
  assert.equal(refused, 50 - LIMITS.maxBurstPerAddress, `refused at once past the burst limit: ${times}`);
  assert.equal(evicted, LIMITS.maxBurstPerAddress - LIMITS.maxPendingPerAddress + 1, `closed for the tab's connection: ${times}`);
  assert.equal(timedOut, LIMITS.maxPendingPerAddress - 1, `cut at the header timeout: ${times}`);
});

/** A client that connects now and sends its request when told (as a tab on a slow link, or behind TLS, does). */
function lateClient(port: number): { connected: Promise<void>; send(): Promise<string> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(answer)));
  return {
    connected: new Promise((resolve) => socket.once('connect', () => resolve())),
    send: () => {
      if (socket.writable) socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return closed;
    },
  };
}

test("a burst of tabs from one address (a lab's NAT, a head restart), all connected before any request, all served", async () => {
  const bare = http.createServer(serverOptions(LIMITS), (_req, res) => res.end('ok'));
  guardConnections(bare, LIMITS, () => undefined);
  let taken = 0;
  const allTaken = new Promise<void>((resolve) => bare.on('connection', () => ++taken === LIMITS.maxBurstPerAddress && resolve()));
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  try {
    const clients = Array.from({ length: LIMITS.maxBurstPerAddress }, () => lateClient((bare.address() as net.AddressInfo).port));
    await Promise.all(clients.map((c) => c.connected));
    await allTaken;
    const answers = await Promise.all(clients.map((c) => c.send()));
    assert.equal(answers.filter((a) => a.startsWith('HTTP/1.1 200')).length, LIMITS.maxBurstPerAddress, 'every one served');
  } finally {
    await new Promise((resolve) => bare.close(resolve));
  }
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
