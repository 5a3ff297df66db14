/**
 * `model.serve.*` (issue 29): a large file named with `--model weights=…`, served to two tabs at
 * once. The coordinator hashes it as a stream and sends it from disk in chunks, so its memory should
 * not grow with the file: `model.serve.rssMB.per100MB` is the coordinator process's peak resident
 * memory while the tabs download the file, less its memory when it started serving, per 100 MB of
 * file (goal ≤ 5). The tabs are opened by this process (not --launch), so the coordinator's process
 * holds nothing of the browser.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import { ROOT, startCoordinator } from '../test/support/coordinatorProcess.ts';

/** A process's resident memory from /proc (Linux), in MB. */
async function rssMB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export async function benchModelServe(o: { quick: boolean; log: (s: string) => void; notes: string[] }): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-serve-'));
  const mb = o.quick ? 400 : 800;
  try {
    const file = path.join(dir, 'weights.bin');
    const chunk = Buffer.alloc(2 ** 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    const handle = await fs.open(file, 'w');
    for (let i = 0; i < mb; i++) {
      chunk[0] = i & 255;
      await handle.write(chunk);
    }
    await handle.close();
    const records = path.join(dir, 'records.jsonl');
    await fs.writeFile(records, Array.from({ length: 4 }, (_, i) => JSON.stringify({ id: `r${i}` })).join('\n'));
    o.log(`serving a ${mb} MiB named file to 2 tabs…`);
    const summaryFile = path.join(dir, 'summary.json');
    const started = performance.now();
    const c = await startCoordinator([
      ...['--actor', path.join(ROOT, 'bench', 'bigFileActor.ts'), '--model', `weights=${file}`, '--data', records],
      ...['--out', path.join(dir, 'out.jsonl'), '--ep', 'wasm', '--pool', '2', '--verify', '0', '--quiet', '--summary-json', summaryFile],
    ]);
    const pid = c.process.pid!;
    const baseline = await rssMB(pid);
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssMB(pid).catch(() => peak));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const browser = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
    try {
      for (let i = 0; i < 2; i++) await (await browser.newContext()).newPage().then((p) => p.goto(c.workerUrl));
      const code = await c.exited;
      if (code !== 0) throw new Error(`the serving bench's job exited ${code}: ${c.stderr().slice(-2000)}`);
    } finally {
      sampling = false;
      await sampler;
      await browser.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const s = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
    const rows = (await fs.readFile(path.join(dir, 'out.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { bytes: number });
    const whole = rows.every((r) => r.bytes === mb * 2 ** 20);
    const growth = peak - baseline;
    const per100 = growth / ((mb * 2 ** 20) / 100e6);
    o.log(`  coordinator RSS ${baseline.toFixed(0)} MB serving, peak ${peak.toFixed(0)} MB: ${per100.toFixed(2)} MB per 100 MB of file`);
    o.notes.push(
      `model.serve: a ${mb} MiB file named with --model weights=… (bench/bigFileActor.ts reads it whole in each tab; its copy in ` +
        `the coordinator never touches it), served to 2 tabs of one Chromium at once: the coordinator's RSS ${baseline.toFixed(0)} MB ` +
        `once listening, peak ${peak.toFixed(0)} MB while the tabs downloaded it (/proc, every 50 ms), ${growth.toFixed(1)} MB more: ` +
        `${per100.toFixed(2)} MB per 100 MB of file; ${s.rows.written} rows, ` +
        `${whole ? 'every tab read the whole file' : 'A TAB DID NOT READ THE WHOLE FILE'}; ` +
        `${seconds.toFixed(1)} s in all.`,
    );
    if (!whole) o.notes.push(`model.serve: rows say ${JSON.stringify(rows.map((r) => r.bytes))}, not ${mb * 2 ** 20}`);
    return { 'model.serve.rssMB.per100MB': per100, 'model.serve.rssGrowthMB': growth, 'model.serve.fileMB': (mb * 2 ** 20) / 1e6 };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
