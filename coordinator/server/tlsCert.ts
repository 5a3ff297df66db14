/**
 * `--tls self-signed`: browsers give WebGPU only to secure contexts, so a tab on another machine
 * needs https. This makes a certificate for the machine's names and addresses, keeps it in the
 * cache directory and reuses it, so a person accepts it once per browser rather than once per run.
 * The SHA-256 fingerprint is what that person checks against the browser's certificate viewer.
 */
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import { TabpoolError } from '../../shared/errors.ts';
import { certNames, type CertNames } from './addresses.ts';

/** A certificate and key ready for https.createServer, and where they are kept. */
export interface SelfSignedCert {
  cert: string;
  key: string;
  /** `AB:CD:…`, as X509Certificate.fingerprint256 and browsers' certificate viewers show it. */
  fingerprint256: string;
  /** The certificate file (the key is `key.pem` beside it). */
  path: string;
  /** True when the stored certificate was used as it was. */
  reused: boolean;
}

const DAY_MS = 86_400_000;
const VALID_DAYS = 365;
/** A certificate this close to expiry is replaced, so a job started now does not outlive it. */
const RENEW_BEFORE_MS = DAY_MS;
/** Another machine's clock may run behind this one's. */
const BACKDATE_MS = DAY_MS;
/** Names carried over from the previous certificate, so moving between networks keeps one fingerprint; past this many, it starts afresh. */
const MAX_CARRIED_NAMES = 64;

/** The certificate's SHA-256 fingerprint (`AB:CD:…`), for a certificate given with --tls-cert. */
export function certificateFingerprint(certPem: string | Buffer): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch (e) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `the TLS certificate could not be read (${(e as Error).message}); pass a PEM certificate to --tls-cert`,
      { cause: e },
    );
  }
}

/**
 * The self-signed certificate for `names`, from `<cacheDir>/tls/` when the one kept there is
 * intact, matches its key, is valid at `now` for more than a day and covers every name and address;
 * otherwise a new one (EC P-256, CN tabpool, the names as DNS and IP SAN entries, serverAuth, one
 * year), written there (the key 0600) and returned.
 */
export async function ensureSelfSignedCert(cacheDir: string, names: CertNames, now: Date = new Date()): Promise<SelfSignedCert> {
  const wanted = normalize(names);
  const dir = path.join(cacheDir, 'tls');
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  const stored = await readStored(certPath, keyPath);
  if (stored && usable(stored.x509, stored.key, wanted, now)) {
    return { cert: stored.cert, key: stored.keyPem, fingerprint256: stored.x509.fingerprint256, path: certPath, reused: true };
  }
  const covered = stored ? carriedNames(stored.x509, now) : { hostnames: [], addresses: [] };
  const merged = normalize({
    hostnames: [...wanted.hostnames, ...covered.hostnames],
    addresses: [...wanted.addresses, ...covered.addresses],
  });
  const chosen = merged.hostnames.length + merged.addresses.length > MAX_CARRIED_NAMES ? wanted : merged;
  const made = await generateCert(chosen, now);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomically(keyPath, made.key, 0o600);
    await writeAtomically(certPath, made.cert, 0o644);
  } catch (e) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `could not keep the self-signed certificate in ${dir} (${(e as Error).message}); point --cache-dir at ` +
        `a writable folder, or pass --tls-cert and --tls-key`,
      { cause: e },
    );
  }
  return { cert: made.cert, key: made.key, fingerprint256: new X509Certificate(made.cert).fingerprint256, path: certPath, reused: false };
}

function normalize(names: CertNames): CertNames {
  const hostnames = [...new Set(names.hostnames.map((h) => h.toLowerCase()).filter((h) => h !== ''))];
  const bad = names.addresses.filter((a) => net.isIP(a) === 0);
  if (bad.length > 0)
    throw new TabpoolError('BAD_ARGUMENT', `${bad.join(', ')} is not an IP address; give --host an address or a host name`);
  return { hostnames, addresses: [...new Set(names.addresses)] };
}

interface Stored {
  cert: string;
  keyPem: string;
  x509: X509Certificate;
  key: KeyObject;
}

/** The kept certificate and key, or null when either is missing or does not parse (then a new pair replaces them). */
async function readStored(certPath: string, keyPath: string): Promise<Stored | null> {
  try {
    const [cert, keyPem] = await Promise.all([fs.readFile(certPath, 'utf8'), fs.readFile(keyPath, 'utf8')]);
    return { cert, keyPem, x509: new X509Certificate(cert), key: createPrivateKey(keyPem) };
  } catch {
    return null;
  }
}

function usable(x509: X509Certificate, key: KeyObject, names: CertNames, now: Date): boolean {
  if (!x509.checkPrivateKey(key)) return false;
  if (Date.parse(x509.validFrom) > now.getTime()) return false;
  if (Date.parse(x509.validTo) - now.getTime() < RENEW_BEFORE_MS) return false;
  // SAN entries only: browsers ignore the subject's CN.
  const hostOk = (h: string): boolean => x509.checkHost(h, { subject: 'never', wildcards: false }) !== undefined;
  return names.hostnames.every(hostOk) && names.addresses.every((a) => x509.checkIP(a) !== undefined);
}

/** The DNS and IP entries of a kept certificate that has not expired. */
function carriedNames(x509: X509Certificate, now: Date): CertNames {
  if (Date.parse(x509.validTo) <= now.getTime()) return { hostnames: [], addresses: [] };
  const entries = (x509.subjectAltName ?? '').split(/,\s*/);
  const value = (prefix: string): string[] =>
    entries.filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length).replace(/^"|"$/g, ''));
  return {
    hostnames: value('DNS:').filter((h) => /^[a-z0-9_.-]+$/i.test(h)),
    addresses: value('IP Address:').filter((a) => net.isIP(a) !== 0),
  };
}

async function generateCert(names: CertNames, now: Date): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(now.getTime() - BACKDATE_MS);
  const notAfterDate = new Date(now.getTime() + VALID_DAYS * DAY_MS);
  const pems = await generate([{ name: 'commonName', value: 'tabpool' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.hostnames.map((value) => ({ type: 2 as const, value })),
          ...names.addresses.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Writes beside the target and renames over it, so a crash never leaves half a key or certificate. */
async function writeAtomically(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, data, { mode, flag: 'wx' });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** The certificate to serve https with, and its fingerprint: made for this machine (--tls self-signed), or given. */
export async function tlsFor(
  o: { host: string; tls: 'self-signed' | null; tlsCert: string | null; tlsKey: string | null },
  cacheDir: string,
  log: (line: string) => void,
): Promise<{ cert: string | Buffer; key: string | Buffer; fingerprint: string } | null> {
  if (o.tls === 'self-signed') {
    const made = await ensureSelfSignedCert(cacheDir, certNames(o.host));
    log(`TLS: ${made.reused ? 'reusing the' : 'made a'} self-signed certificate for this machine's names and addresses, ${made.path}`);
    return { cert: made.cert, key: made.key, fingerprint: made.fingerprint256 };
  }
  if (o.tlsCert && o.tlsKey) {
    const cert = await fs.readFile(o.tlsCert);
    return { cert, key: await fs.readFile(o.tlsKey), fingerprint: certificateFingerprint(cert) };
  }
  return null;
}
