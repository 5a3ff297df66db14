import { defineConfig, type Plugin } from 'vite';

/**
 * The coordinator serves three pages from one build: the worker page (index.html, at /worker/),
 * a job's status page (status.html, at /) and a standing pool's (pool.html, at / on tabpool serve). `--mode test` makes the test build (dist/web-test): the
 * same pages with the worker page's entry swapped for web/testing/main.ts, which adds the hooks
 * end-to-end tests drive. The default build never contains them.
 */
function testEntry(): Plugin {
  return {
    name: 'tabpool-test-entry',
    // 'pre': before Vite bundles the scripts the HTML names.
    transformIndexHtml: { order: 'pre', handler: (html) => html.replace('./page/main.ts', './testing/main.ts') },
  };
}

export default defineConfig(({ mode }) => ({
  root: 'web',
  // Both pages load their assets from /assets/, whichever path they are served at.
  base: '/',
  plugins: mode === 'test' ? [testEntry()] : [],
  build: {
    outDir: mode === 'test' ? '../dist/web-test' : '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    rollupOptions: { input: { index: 'web/index.html', status: 'web/status.html', pool: 'web/pool.html' } },
  },
  worker: { format: 'es' },
  logLevel: 'warn',
}));
