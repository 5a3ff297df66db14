import { defineConfig } from 'vite';

// The worker page is a static build served by the coordinator from dist/web.
export default defineConfig({
  root: 'web',
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
  worker: { format: 'es' },
  logLevel: 'warn',
});
