/**
 * `npm test`'s first step on a fresh machine: what the suite needs beyond npm, got when missing and
 * said: a Chromium-family browser (as `tabpool run --launch` gets one: coordinator/browser/getBrowser.ts),
 * nats-server for the queue tests, and Pillow (Debian's python3-pil) for the preprocessing references.
 * Where it cannot install (not root, not Debian), it names the command and the suite stops here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { aptInstaller, ensureChromium } from '../../coordinator/browser/getBrowser.ts';

const say = (line: string): void => void process.stderr.write(`setup: ${line}\n`);
const apt = aptInstaller();

async function need(what: string, present: () => boolean, pkg: string): Promise<void> {
  if (present()) return;
  if (!apt) throw new Error(`${what} is missing: run \`sudo apt-get install ${pkg}\` (Debian, Ubuntu), then npm test again`);
  say(`${what} is missing: installing Debian's ${pkg} (apt-get, as root)…`);
  await apt(pkg);
  if (!present()) throw new Error(`apt-get install ${pkg} finished, but ${what} is still missing`);
}

const works = (cmd: string, args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

try {
  say(`browser: ${await ensureChromium(say)}`);
  await need(
    'nats-server',
    () => ['/usr/sbin/nats-server', '/usr/bin/nats-server'].some(existsSync) || works('nats-server', ['--version']),
    'nats-server',
  );
  await need(
    'Pillow (python3-pil)',
    () => works(process.env.TABPOOL_PILLOW_PYTHON ?? '/usr/bin/python3', ['-c', 'import PIL']),
    'python3-pil',
  );
} catch (err) {
  process.stderr.write(`setup: ${(err as Error).message}\n`);
  process.exit(1);
}
