/**
 * The status page's "Join" section: the worker page's URLs as links, the TLS certificate's
 * fingerprint to check against the browser's warning, and a QR code of the first URL for a phone
 * or a tablet to scan.
 */
import { toString as qrSvg } from 'qrcode/lib/browser.js';
import type { JobStatus } from '../../shared/status.ts';

type Join = JobStatus['join'];

/** The URL the QR code shows now, or being drawn: the page polls every second, and the code only changes with it. */
let qrFor: string | null = null;

/** Fills the section from `/api/status`'s `join`; everything is set as text or an attribute, nothing parsed as HTML. */
export function renderJoin(join: Join): void {
  const section = document.getElementById('join')!;
  section.hidden = join.workerUrls.length === 0;
  const list = section.querySelector<HTMLElement>('[data-field="join-urls"]')!;
  // Rebuilt only when the URLs change: a person selecting one to copy keeps the selection across polls.
  if (list.dataset['urls'] !== join.workerUrls.join('\n')) {
    list.dataset['urls'] = join.workerUrls.join('\n');
    list.replaceChildren(
      ...join.workerUrls.map((url) => {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = url;
        a.textContent = url;
        li.append(a);
        return li;
      }),
    );
  }
  const fingerprint = section.querySelector<HTMLElement>('[data-field="join-fingerprint"]')!;
  fingerprint.hidden = join.tlsFingerprint === null;
  fingerprint.querySelector('code')!.textContent = join.tlsFingerprint ?? '';
  drawQr(section.querySelector<HTMLImageElement>('[data-field="join-qr"]')!, join.workerUrls[0] ?? null);
}

function drawQr(img: HTMLImageElement, url: string | null): void {
  if (url === qrFor) return;
  qrFor = url;
  if (url === null) {
    img.hidden = true;
    img.removeAttribute('src');
    return;
  }
  qrSvg(url, { type: 'svg', errorCorrectionLevel: 'M', margin: 4, color: { dark: '#000000', light: '#ffffff' } })
    .then((svg) => {
      // A newer URL may have come while this one was drawn.
      if (qrFor !== url) return;
      // As an image, the SVG is never part of the page's DOM: no markup of it can run or inject.
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
      img.alt = `QR code of ${url}`;
      img.hidden = false;
    })
    .catch(() => {
      if (qrFor === url) img.hidden = true;
    });
}
