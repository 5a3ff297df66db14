/**
 * Inputs on HTTP do not pass through the coordinator: the tabs fetch them from a separate
 * (CORS-enabled) server. Where CORS is refused the tabs say so, the coordinator fetches those
 * inputs instead, and the rows are the same.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { startImageServer } from '../support/imageServer.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, test } from './fixtures.ts';

test(
  'tabs fetch URL inputs from a CORS-enabled server themselves; with CORS refused the coordinator fetches ' +
    'them, and the rows are the same',
  async ({ browser, tmp, coordinator: start }) => {
    const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
    const files = await writeTestPngs(path.join(tmp, 'images'), 16, 224, 224, 83);
    const reference = await referencePredictions(model.path, files);
    const rowsFor = async (cors: boolean): Promise<Map<string, number | undefined>> => {
      const server = await startImageServer(path.join(tmp, 'images'), { cors });
      try {
        const manifest = path.join(tmp, `urls-${cors}.txt`);
        await fs.writeFile(manifest, files.map((f) => `${server.origin}/${f.id}`).join('\n') + '\n');
        const out = path.join(tmp, `out-${cors}.jsonl`);
        const c = await start(
          jobArgv({
            data: manifest,
            out,
            ep: 'wasm',
            pool: 2,
            batchSize: 4,
            verify: 0,
            summaryJson: path.join(tmp, `summary-${cors}.json`),
          }),
        );
        await openTab(browser, c.workerUrl);
        await openTab(browser, c.workerUrl);
        expect(await c.exited, c.stderr()).toBe(0);
        const summary = JSON.parse(await fs.readFile(path.join(tmp, `summary-${cors}.json`), 'utf8')) as {
          wire: { fileBytesPerImage: number };
        };
        const fromNode = server.requests.filter((r) => !r.browser);
        const fromBrowser = server.requests.filter((r) => r.browser);
        if (cors) {
          expect(fromNode, 'the coordinator fetched nothing').toEqual([]);
          expect(new Set(fromBrowser.map((r) => r.path)).size).toBe(files.length);
          expect(summary.wire.fileBytesPerImage, 'no image byte went through the coordinator').toBe(0);
        } else {
          expect(new Set(fromNode.map((r) => r.path)).size, 'the coordinator fetched every input the tabs could not').toBe(files.length);
          expect(c.stderr()).toMatch(/could not fetch \d+ URL input\(s\) itself \(CORS or network\); they are fetched here instead/);
        }
        const rows = await readRows(out);
        expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => `${server.origin}/${f.id}`).sort());
        return new Map(rows.map((r) => [r.id.slice(server.origin.length + 1), r.class]));
      } finally {
        await server.close();
      }
    };
    const withCors = await rowsFor(true);
    const refused = await rowsFor(false);
    for (const f of files) {
      expect(withCors.get(f.id), `${f.id}: top-1`).toBe(reference.get(f.id)!.top1);
      expect(refused.get(f.id), `${f.id}: the same row either way`).toBe(withCors.get(f.id));
    }
  },
);
