/**
 * The lines a person joins a pool with: the worker page's URLs, the status page, and the TLS
 * certificate's fingerprint to check against the browser's warning. The CLI prints them (with a QR
 * code of the first URL, cli/joinBanner.ts); the API hands them out as `started.banner`.
 */
import { TabpoolError } from '../../shared/errors.ts';

export interface JoinInfo {
  /** Worker page URLs (the token included), the one to scan first; at least one. */
  workerUrls: string[];
  statusUrl: string;
  /** The served certificate's SHA-256 fingerprint (`AB:CD:…`), or null over plain http. */
  tlsFingerprint: string | null;
}

/** The lines to print, each without a newline and without terminal escapes. */
export function joinLines(o: JoinInfo): string[] {
  const [first, ...others] = o.workerUrls;
  if (first === undefined)
    throw new TabpoolError('JOB_FAILED', 'no worker page URL to print; pass --host an address this machine listens on');
  const lines = [
    `worker page (open in any browser to join): ${first}`,
    ...others.map((u) => `  also: ${u}`),
    `status page: ${o.statusUrl}`,
  ];
  if (o.tlsFingerprint !== null) {
    lines.push(`TLS certificate SHA-256 fingerprint: ${o.tlsFingerprint}`);
    lines.push('  your browser may warn that the certificate is self-signed: accept it only if it shows this fingerprint');
  }
  return lines;
}
