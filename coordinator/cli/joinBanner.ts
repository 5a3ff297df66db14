/**
 * What the CLI prints so a person can join the pool: the join lines (server/joinLines.ts) and, on a
 * terminal when other machines can reach the pool, a QR code of the worker page for a phone or a
 * tablet to scan.
 */
import QRCode from 'qrcode';
import { joinLines, type JoinInfo } from '../server/joinLines.ts';

/** The lines to print, each without a newline and without terminal escapes; `qr` adds the code of the first worker URL. */
export function joinBanner(o: JoinInfo & { qr: boolean }): string[] {
  const lines = joinLines(o);
  if (o.qr) lines.push('scan to join from a phone or a tablet:', ...terminalQr(o.workerUrls[0]!));
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
