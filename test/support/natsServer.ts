/**
 * A real nats-server with JetStream for the queue tests: Debian's package, on a free loopback port,
 * with a temporary store, stopped (and its store removed) after. Never a mock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { aptInstaller } from '../../coordinator/browser/getBrowser.ts';

export interface NatsServer {
  url: string;
  port: number;
  pid: number;
  /** Kills the server (SIGKILL: no flush, no goodbye) and waits for it to be gone; the store stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and the same store (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function installed(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = path.join(dir, 'nats-server');
    if (existsSync(p)) return p;
  }
  return null;
}

let installing: Promise<void> | null = null;

/** nats-server, installed first (Debian's package, as root) when it is not there; otherwise the command to run. */
async function binary(): Promise<string> {
  const found = installed();
  if (found) return found;
  const apt = aptInstaller();
  if (!apt) throw new Error('nats-server is not installed: run `sudo apt-get install nats-server` (Debian), or put nats-server on PATH');
  process.stderr.write('nats-server is not installed: installing Debian’s package (apt-get install nats-server, as root)…\n');
  await (installing ??= apt('nats-server'));
  const now = installed();
  if (!now) throw new Error('apt-get install nats-server finished but no nats-server is on PATH');
  return now;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts nats-server -js and resolves once it accepts clients. `maxPayload` lowers the largest message it takes. */
export async function startNats(opts: { maxPayload?: number } = {}): Promise<NatsServer> {
  const store = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-nats-'));
  const port = await freePort();
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store];
  if (opts.maxPayload) {
    const conf = path.join(store, 'nats.conf');
    await fs.writeFile(conf, `max_payload: ${opts.maxPayload}\n`);
    args.push('-c', conf);
  }
  let running = await launch(await binary(), args);
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: running.child.pid!,
    kill: async (signal = 'SIGKILL') => {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill(signal);
      await running.exited;
    },
    restart: async () => {
      running = await launch(await binary(), args);
      server.pid = running.child.pid!;
    },
    stop: async () => {
      await server.kill('SIGTERM');
      await fs.rm(store, { recursive: true, force: true });
    },
  };
  return server;
}

async function launch(bin: string, args: string[]): Promise<{ child: ChildProcess; exited: Promise<number> }> {
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  await new Promise<void>((resolve, reject) => {
    const check = (d: Buffer): void => {
      log += d.toString();
      if (log.includes('Server is ready')) resolve();
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`nats-server exited ${code} before it was ready:\n${log}`)));
  });
  return { child, exited };
}
