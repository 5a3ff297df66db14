/**
 * A browser on another machine: the page reached by a name that is not localhost (Chromium maps
 * it to 127.0.0.1) over `--tls self-signed` is a secure context, so its WebGPU actor works, and
 * the fingerprint the CLI printed is the certificate the browser was shown.
 */
import path from 'node:path';
import tls from 'node:tls';
import { chromium } from '@playwright/test';
import { chromiumArgs, findChromium } from '../../coordinator/browser/launcher.ts';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { maxRelativeDifference, readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, test } from './fixtures.ts';

const NAME = 'gpu-box.tabpool.test';

function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: NAME, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('over --tls self-signed, a page opened by another name is a secure context and its WebGPU actor predicts as onnxruntime-node', async ({
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const files = await writeTestPngs(path.join(tmp, 'data'), 6, 64, 64, 97);
  const out = path.join(tmp, 'out.jsonl');
  const c = await start(
    jobArgv({
      model: 'resnet18-tiny',
      data: path.join(tmp, 'data'),
      out,
      tls: 'self-signed',
      ep: 'webgpu',
      allowSoftwareGpu: true,
      pool: 1,
      batchSize: 3,
      logits: true,
    }),
  );
  const printed = /TLS certificate SHA-256 fingerprint: ([0-9A-F:]+)/.exec(c.stdout())?.[1];
  const url = new URL(c.workerUrl);
  expect(url.protocol).toBe('https:');
  expect(printed, 'the CLI prints the fingerprint').toBe(await servedFingerprint(Number(url.port)));

  const browser = await chromium.launch({
    executablePath: findChromium(),
    args: [...chromiumArgs(), `--host-resolver-rules=MAP ${NAME} 127.0.0.1`],
  });
  try {
    // A person accepts the self-signed certificate once, after checking its fingerprint.
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    url.hostname = NAME;
    await page.goto(url.href);
    expect(await page.evaluate(() => [self.isSecureContext, 'gpu' in navigator])).toEqual([true, true]);
    expect(await c.exited, c.stderr()).toBe(0);
    await expect(page.locator('[data-field="ep"]')).toHaveText('webgpu');
  } finally {
    await browser.close();
  }
  const rows = await readRows(out);
  const reference = await referencePredictions(model.path, files);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  for (const row of rows) {
    expect(row.class, `${row.id}: top-1`).toBe(reference.get(row.id)!.top1);
    expect(maxRelativeDifference(row.logits!, reference.get(row.id)!.logits), `${row.id}: logits`).toBeLessThan(1e-3);
  }
});

test(
  'a page opened over plain http from another machine says it has no WebGPU because of http, and what ' + 'to do; it still runs wasm',
  async ({ tmp, coordinator: start }) => {
    await writeTestPngs(path.join(tmp, 'data'), 4, 64, 64, 101);
    const c = await start(jobArgv({ model: 'resnet18-tiny', data: path.join(tmp, 'data'), out: path.join(tmp, 'out.jsonl'), pool: 1 }));
    const browser = await chromium.launch({
      executablePath: findChromium(),
      args: [...chromiumArgs(), `--host-resolver-rules=MAP ${NAME} 127.0.0.1`],
    });
    try {
      const page = await (await browser.newContext()).newPage();
      const url = new URL(c.workerUrl);
      url.hostname = NAME;
      await page.goto(url.href);
      expect(await page.evaluate(() => self.isSecureContext)).toBe(false);
      await expect(page.locator('[data-field="notice"]')).toContainText('opened over plain http');
      await expect(page.locator('[data-field="notice"]')).toContainText('--tls self-signed');
      expect(await c.exited, c.stderr()).toBe(0);
      await expect(page.locator('[data-field="ep"]')).toHaveText('wasm');
    } finally {
      await browser.close();
    }
  },
);
