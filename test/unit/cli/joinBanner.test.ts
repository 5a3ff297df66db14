/**
 * What the CLI prints so a person can join: the worker URL line the tests and people look for,
 * the other URLs, the status page, the certificate's fingerprint when there is one, and a QR code
 * of the worker URL, in plain text, that holds exactly the code qrcode makes for that URL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import QRCode from 'qrcode';
import { joinBanner, QR_MARGIN, terminalQr } from '../../../coordinator/cli/joinBanner.ts';
import { TabpoolError } from '../../../shared/errors.ts';

const URL_A = 'https://192.168.1.20:8443/worker/?token=AbCdEfGhIjKlMnOpQrStUvWx';
const URL_B = 'https://10.0.0.7:8443/worker/?token=AbCdEfGhIjKlMnOpQrStUvWx';
const URL_C = 'https://[2001:db8::20]:8443/worker/?token=AbCdEfGhIjKlMnOpQrStUvWx';
const STATUS = 'https://192.168.1.20:8443/?token=AbCdEfGhIjKlMnOpQrStUvWx';
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).toUpperCase().padStart(2, '0')).join(':');
/** What the e2e tests and the terminal test parse. */
const WORKER_LINE = /worker page \(open in any browser to join\): (\S+)/;
const QR_CHARS = /[█▀▄]/;

test('one URL over http: the worker line, then the status line, nothing more', () => {
  assert.deepEqual(joinBanner({ workerUrls: [URL_A], statusUrl: STATUS, tlsFingerprint: null, qr: false }), [
    `worker page (open in any browser to join): ${URL_A}`,
    `status page: ${STATUS}`,
  ]);
});

test('several URLs: the first on the worker line, each other one on an indented "also:" line', () => {
  const lines = joinBanner({ workerUrls: [URL_A, URL_B, URL_C], statusUrl: STATUS, tlsFingerprint: null, qr: false });
  assert.deepEqual(lines.slice(0, 3), [`worker page (open in any browser to join): ${URL_A}`, `  also: ${URL_B}`, `  also: ${URL_C}`]);
  assert.equal(lines[3], `status page: ${STATUS}`);
  const found = lines.map((l) => WORKER_LINE.exec(l)?.[1]).filter((u) => u !== undefined);
  assert.deepEqual(found, [URL_A], 'a parser of the worker line finds the first URL, once');
});

test('the fingerprint line, and how to use it, appear only when there is a certificate', () => {
  const withTls = joinBanner({ workerUrls: [URL_A], statusUrl: STATUS, tlsFingerprint: FINGERPRINT, qr: false });
  const at = withTls.indexOf(`TLS certificate SHA-256 fingerprint: ${FINGERPRINT}`);
  assert.ok(at > 0, 'no fingerprint line');
  assert.match(withTls[at + 1]!, /^ {2}.*fingerprint/, 'the hint follows the fingerprint');
  const without = joinBanner({ workerUrls: [URL_A], statusUrl: STATUS, tlsFingerprint: null, qr: false });
  assert.ok(!without.some((l) => /fingerprint|certificate/i.test(l)));
});

test('the QR code is drawn only when asked', () => {
  const off = joinBanner({ workerUrls: [URL_A, URL_B], statusUrl: STATUS, tlsFingerprint: FINGERPRINT, qr: false });
  assert.ok(!off.some((l) => QR_CHARS.test(l)));
  const on = joinBanner({ workerUrls: [URL_A, URL_B], statusUrl: STATUS, tlsFingerprint: FINGERPRINT, qr: true });
  assert.deepEqual(on.slice(0, off.length), off, 'the text lines come first, unchanged');
  assert.deepEqual(on.slice(off.length + 1), terminalQr(URL_A), 'a caption, then the code of the first URL');
});

test('every line is plain text: no terminal escapes, no line breaks inside a line', () => {
  const lines = joinBanner({ workerUrls: [URL_A, URL_C], statusUrl: STATUS, tlsFingerprint: FINGERPRINT, qr: true });
  for (const l of lines) {
    assert.ok(!l.includes('\x1b'), `escape in ${JSON.stringify(l)}`);
    assert.ok(!/[\r\n]/.test(l), `line break in ${JSON.stringify(l)}`);
  }
});

/** The half blocks read back as module rows (true = dark): `█` both light, `▀` light over dark, `▄` dark over light, space both dark. */
function readBack(lines: string[]): boolean[][] {
  const halves: Record<string, [boolean, boolean]> = { '█': [false, false], '▀': [false, true], '▄': [true, false], ' ': [true, true] };
  const rows: boolean[][] = [];
  for (const line of lines) {
    const cells = [...line].map((c) => {
      const pair = halves[c];
      assert.ok(pair, `unexpected character ${JSON.stringify(c)} in the QR code`);
      return pair;
    });
    rows.push(
      cells.map(([top]) => top),
      cells.map(([, bottom]) => bottom),
    );
  }
  return rows;
}

test('the QR code holds exactly the symbol qrcode makes for the URL, with a light quiet zone, for a dark terminal', () => {
  for (const url of [URL_A, URL_C, 'http://127.0.0.1:5173/worker/?token=x']) {
    const lines = terminalQr(url);
    const rows = readBack(lines);
    const side = rows[0]!.length;
    assert.ok(
      rows.every((r) => r.length === side),
      'every line is as wide as the code',
    );
    const size = side - 2 * QR_MARGIN;
    const inside = (x: number, y: number): boolean => x >= QR_MARGIN && y >= QR_MARGIN && x < QR_MARGIN + size && y < QR_MARGIN + size;
    rows.forEach((r, y) => r.forEach((dark, x) => !inside(x, y) && assert.equal(dark, false, `quiet zone dark at ${x},${y}`)));
    assert.ok(rows.length >= side && rows.length <= side + 1, 'two module rows a line, the last padded light');
    const drawn = rows.slice(QR_MARGIN, QR_MARGIN + size).flatMap((r) => r.slice(QR_MARGIN, QR_MARGIN + size));
    const matches = (['L', 'M', 'Q', 'H'] as const).some((level) => {
      const { modules } = QRCode.create(url, { errorCorrectionLevel: level });
      return modules.size === size && drawn.every((dark, i) => dark === Boolean(modules.data[i]));
    });
    assert.ok(matches, `the drawn code is not qrcode's symbol for ${url}`);
  }
});

test('the drawn code changes with the URL', () => {
  assert.notDeepEqual(terminalQr(URL_A), terminalQr(URL_B));
});

test('no worker URL at all is a bug the banner refuses to hide', () => {
  assert.throws(() => joinBanner({ workerUrls: [], statusUrl: STATUS, tlsFingerprint: null, qr: false }), TabpoolError);
});
