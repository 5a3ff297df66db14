/**
 * `--tls self-signed`: the certificate covers the machine's names and addresses, is kept in the
 * cache directory with a private key only its owner reads, is reused while it still fits, and is
 * replaced when a new address appears or it nears expiry; a TLS client that trusts it accepts the
 * https server that serves it.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { certificateFingerprint, ensureSelfSignedCert } from '../../../coordinator/server/tlsCert.ts';
import { TabpoolError } from '../../../shared/errors.ts';

const NAMES = { hostnames: ['gpu-box', 'gpu-box.lan', 'localhost'], addresses: ['127.0.0.1', '::1', '192.168.1.20', 'fd00::20'] };
const DAY_MS = 86_400_000;
const NOW = new Date('2030-03-01T12:00:00Z');

let tmp: string;
let dirCount = 0;
const freshCacheDir = (): string => path.join(tmp, `cache-${++dirCount}`);

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-tls-'));
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('the certificate names every host name and address it was asked for, and no other', async () => {
  const made = await ensureSelfSignedCert(freshCacheDir(), NAMES, NOW);
  const x509 = new X509Certificate(made.cert);
  for (const h of NAMES.hostnames) assert.equal(x509.checkHost(h, { subject: 'never' }), h, `${h} is not in the certificate`);
  for (const ip of NAMES.addresses) assert.equal(x509.checkIP(ip), ip, `${ip} is not in the certificate`);
  assert.equal(x509.checkHost('elsewhere.example', { subject: 'never' }), undefined);
  assert.equal(x509.checkIP('10.9.8.7'), undefined);
  assert.match(x509.subject, /CN=tabpool/);
  assert.equal(x509.ca, false);
  assert.deepEqual(x509.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage is TLS server authentication');
  assert.ok(x509.checkPrivateKey(createPrivateKey(made.key)), 'the key is the certificate’s own');
  const validDays = (Date.parse(x509.validTo) - NOW.getTime()) / DAY_MS;
  assert.ok(validDays > 360 && validDays < 370, `valid for ${validDays} days from now`);
  assert.ok(Date.parse(x509.validFrom) <= NOW.getTime(), 'valid from now (backdated for clocks that run behind)');
});

test('the fingerprint is the certificate’s SHA-256, as X509Certificate and browsers show it', async () => {
  const made = await ensureSelfSignedCert(freshCacheDir(), NAMES, NOW);
  assert.equal(made.fingerprint256, new X509Certificate(made.cert).fingerprint256);
  assert.match(made.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(certificateFingerprint(made.cert), made.fingerprint256);
  assert.equal(certificateFingerprint(Buffer.from(made.cert)), made.fingerprint256);
});

test('a certificate given with --tls-cert that is not PEM fails with a message naming the flag', () => {
  assert.throws(
    () => certificateFingerprint('not a certificate'),
    (e: unknown) => e instanceof TabpoolError && e.code === 'BAD_ARGUMENT' && e.message.includes('--tls-cert'),
  );
});

test('it is kept under <cache>/tls with the key readable by its owner only', async (t) => {
  const cache = freshCacheDir();
  const made = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(made.path, path.join(cache, 'tls', 'cert.pem'));
  assert.equal(await fs.readFile(made.path, 'utf8'), made.cert);
  const keyPath = path.join(cache, 'tls', 'key.pem');
  assert.equal(await fs.readFile(keyPath, 'utf8'), made.key);
  assert.deepEqual((await fs.readdir(path.join(cache, 'tls'))).sort(), ['cert.pem', 'key.pem'], 'no temporary file is left behind');
  if (process.platform === 'win32') return t.skip('Windows has no POSIX file modes');
  assert.equal((await fs.stat(keyPath)).mode & 0o777, 0o600);
});

test('a later run reuses the kept certificate: same fingerprint, reused, files untouched', async () => {
  const cache = freshCacheDir();
  const first = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(first.reused, false);
  const keyStat = await fs.stat(path.join(cache, 'tls', 'key.pem'));
  const later = new Date(NOW.getTime() + 30 * DAY_MS);
  const subset = { hostnames: ['GPU-BOX'], addresses: ['192.168.1.20'] };
  for (const names of [NAMES, subset]) {
    const again = await ensureSelfSignedCert(cache, names, later);
    assert.equal(again.reused, true);
    assert.equal(again.fingerprint256, first.fingerprint256);
    assert.equal(again.cert, first.cert);
    assert.equal(again.key, first.key);
  }
  assert.equal((await fs.stat(path.join(cache, 'tls', 'key.pem'))).ino, keyStat.ino, 'the key file was not rewritten');
});

test('a new address makes a new certificate that covers it, and keeps covering the earlier ones', async () => {
  const cache = freshCacheDir();
  const first = await ensureSelfSignedCert(cache, NAMES, NOW);
  const moved = { hostnames: NAMES.hostnames, addresses: ['127.0.0.1', '::1', '10.0.0.7'] };
  const second = await ensureSelfSignedCert(cache, moved, NOW);
  assert.equal(second.reused, false);
  assert.notEqual(second.fingerprint256, first.fingerprint256);
  const x509 = new X509Certificate(second.cert);
  assert.equal(x509.checkIP('10.0.0.7'), '10.0.0.7');
  // Moving back to the first network finds its address still covered: one fingerprint to accept, not one per network.
  assert.equal(x509.checkIP('192.168.1.20'), '192.168.1.20');
  const back = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(back.reused, true);
  assert.equal(back.fingerprint256, second.fingerprint256);
  assert.equal(await fs.readFile(second.path, 'utf8'), second.cert, 'the new certificate replaced the kept one');
});

test('a new host name makes a new certificate', async () => {
  const cache = freshCacheDir();
  const first = await ensureSelfSignedCert(cache, NAMES, NOW);
  const renamed = await ensureSelfSignedCert(cache, { hostnames: ['render-node'], addresses: [] }, NOW);
  assert.equal(renamed.reused, false);
  assert.notEqual(renamed.fingerprint256, first.fingerprint256);
  assert.equal(new X509Certificate(renamed.cert).checkHost('render-node', { subject: 'never' }), 'render-node');
});

test('a certificate that has expired, or expires within a day, is replaced; one with a day left and more is kept', async () => {
  const cache = freshCacheDir();
  const first = await ensureSelfSignedCert(cache, NAMES, NOW);
  const validTo = Date.parse(new X509Certificate(first.cert).validTo);
  const stillFine = await ensureSelfSignedCert(cache, NAMES, new Date(validTo - 2 * DAY_MS));
  assert.equal(stillFine.reused, true);
  const nearlyOver = new Date(validTo - DAY_MS / 2);
  const renewed = await ensureSelfSignedCert(cache, NAMES, nearlyOver);
  assert.equal(renewed.reused, false);
  assert.notEqual(renewed.fingerprint256, first.fingerprint256);
  assert.ok(Date.parse(new X509Certificate(renewed.cert).validTo) > nearlyOver.getTime() + 300 * DAY_MS);

  const other = freshCacheDir();
  const old = await ensureSelfSignedCert(other, NAMES, NOW);
  const expired = await ensureSelfSignedCert(other, NAMES, new Date(NOW.getTime() + 400 * DAY_MS));
  assert.equal(expired.reused, false);
  assert.notEqual(expired.fingerprint256, old.fingerprint256);
});

test('a certificate not valid yet (the clock was ahead when it was made) is replaced', async () => {
  const cache = freshCacheDir();
  const fromTheFuture = await ensureSelfSignedCert(cache, NAMES, new Date(NOW.getTime() + 10 * DAY_MS));
  const now = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(now.reused, false);
  assert.notEqual(now.fingerprint256, fromTheFuture.fingerprint256);
});

test('a damaged or mismatched certificate or key is replaced, not served', async () => {
  const cache = freshCacheDir();
  const first = await ensureSelfSignedCert(cache, NAMES, NOW);
  await fs.writeFile(first.path, 'garbage');
  const repaired = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(repaired.reused, false);
  assert.ok(new X509Certificate(repaired.cert).checkPrivateKey(createPrivateKey(repaired.key)));

  // A crash between writing the key and the certificate leaves a pair that does not belong together.
  const otherCache = freshCacheDir();
  const other = await ensureSelfSignedCert(otherCache, NAMES, NOW);
  await fs.copyFile(path.join(otherCache, 'tls', 'key.pem'), path.join(cache, 'tls', 'key.pem'));
  const rematched = await ensureSelfSignedCert(cache, NAMES, NOW);
  assert.equal(rematched.reused, false);
  assert.notEqual(rematched.fingerprint256, repaired.fingerprint256);
  assert.notEqual(rematched.fingerprint256, other.fingerprint256);
});

test('a cache directory that cannot be written fails with a message naming the way out', async () => {
  // A file where the folder should be: refused even to root, which writes into any folder.
  const cache = freshCacheDir();
  await fs.writeFile(cache, 'not a folder');
  await assert.rejects(
    ensureSelfSignedCert(cache, NAMES, NOW),
    (e: unknown) => e instanceof TabpoolError && e.message.includes('--cache-dir') && e.message.includes('--tls-cert'),
  );
});

test('an address that is not an IP address is refused', async () => {
  await assert.rejects(
    ensureSelfSignedCert(freshCacheDir(), { hostnames: [], addresses: ['gpu-box'] }, NOW),
    (e: unknown) => e instanceof TabpoolError && e.code === 'BAD_ARGUMENT',
  );
});

/** GETs `/` over https trusting only `ca`; resolves with the body or rejects with the TLS error. */
function get(port: number, host: string, servername: string | undefined, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/', ca, servername, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

test(
  'an https server with it is accepted by a client that trusts it, by name and by address, and refused ' + 'for a name it does not cover',
  async (t) => {
    const made = await ensureSelfSignedCert(freshCacheDir(), NAMES);
    const server = https.createServer({ cert: made.cert, key: made.key }, (_req, res) => res.end('joined'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    assert.equal(await get(port, '127.0.0.1', 'localhost', made.cert), 'joined');
    assert.equal(await get(port, '127.0.0.1', 'gpu-box', made.cert), 'joined');
    assert.equal(await get(port, '127.0.0.1', undefined, made.cert), 'joined', 'by IP address: checked against the IP entries');
    await assert.rejects(
      get(port, '127.0.0.1', 'elsewhere.example', made.cert),
      (e: NodeJS.ErrnoException) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    const stranger = await ensureSelfSignedCert(freshCacheDir(), NAMES);
    await assert.rejects(
      get(port, '127.0.0.1', 'localhost', stranger.cert),
      (e: NodeJS.ErrnoException) => e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT',
      'a client trusting another certificate refuses it',
    );
  },
);
