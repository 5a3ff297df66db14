/**
 * What the CLI prints so a person can join the pool: the worker page's URLs, the status page, the
 * TLS certificate's fingerprint to check against the browser's warning, and a QR code of the worker
 * page for a phone or a tablet to scan.
 */
import QRCode from 'qrcode';
import { TabpoolError } from '../../shared/errors.ts';

/** What the join banner shows. */
export interface JoinBannerInput {
  /** Worker page URLs (the token included), the one to scan first; at least one. */
  workerUrls: string[];
  statusUrl: string;
  /** The served certificate's SHA-256 fingerprint (`AB:CD:…`), or null over plain http. */
  tlsFingerprint: string | null;
  /** Draw a QR code of the first worker URL (on a terminal, when other machines can reach it). */
  qr: boolean;
}

/** The lines to print, each without a newline and without terminal escapes. */
export function joinBanner(o: JoinBannerInput): string[] {
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
  if (o.qr) lines.push('scan to join from a phone or a tablet:', ...terminalQr(first));
  return lines;
}

/** Light-on-dark quiet zone, in modules on each side; QR readers want one, terminals want it narrow. */
export const QR_MARGIN = 2;

/**
 * A QR code of `text` in Unicode half blocks, two module rows per line, no escapes. Drawn for a
 * dark terminal: light modules and the quiet zone are `█` (the text colour), dark ones the
 * background, the way qrcode-terminal draws them.
 */
export function terminalQr(text: string): string[] {
  const { size, data } = QRCode.create(text, { errorCorrectionLevel: 'L' }).modules;
  const side = size + 2 * QR_MARGIN;
  const dark = (x: number, y: number): boolean => {
    const mx = x - QR_MARGIN;
    const my = y - QR_MARGIN;
    return mx >= 0 && my >= 0 && mx < size && my < size && Boolean(data[my * size + mx]);
  };
  const lines: string[] = [];
  for (let y = 0; y < side; y += 2) {
    let line = '';
    for (let x = 0; x < side; x++) {
      const top = dark(x, y);
      const bottom = dark(x, y + 1);
      line += top ? (bottom ? ' ' : '▄') : bottom ? '▀' : '█';
    }
    lines.push(line);
  }
  return lines;
}
