/**
 * The docs site (`npm run docs:build`, VitePress): the guide, and the references generated from the
 * code (docs/gen/generate.ts): the CLI, the error codes, the latest figures and the API.
 */
import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'tabpool',
  description: 'Batch inference on a pool of browser tabs: stateful WebGPU actors, Ray Data semantics.',
  srcExclude: ['gen/**', 'README.md'],
  cleanUrls: true,
  lastUpdated: false,
  // The guide links to the tree (test/, coordinator/) by path, as text; a dead link to a page fails the build.
  ignoreDeadLinks: false,
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'CLI', link: '/reference/cli' },
      { text: 'API', link: '/reference/api/' },
      { text: 'Figures', link: '/reference/figures' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/guide/getting-started' },
          { text: 'Your own actor', link: '/guide/actors' },
          { text: 'Bringing your own model', link: '/guide/bringing-your-model' },
          { text: 'Text generation', link: '/guide/generation' },
          { text: 'Pools and budgets', link: '/guide/pools-and-budgets' },
          { text: 'Scheduling', link: '/guide/scheduling' },
          { text: 'Trust', link: '/guide/trust' },
          { text: 'The standing pool', link: '/guide/standing-pool' },
          { text: 'The queue', link: '/guide/queue' },
          { text: 'Inputs on the web', link: '/guide/web-inputs' },
          { text: 'Joining from other machines', link: '/guide/joining' },
          { text: 'Reliability', link: '/guide/reliability' },
          { text: 'Performance', link: '/guide/performance' },
        ],
      },
      {
        text: 'For contributors',
        items: [
          { text: 'Architecture', link: '/guide/architecture' },
          { text: 'How it is tested', link: '/guide/testing' },
        ],
      },
      {
        text: 'Reference (generated)',
        items: [
          { text: 'CLI', link: '/reference/cli' },
          { text: 'Error codes', link: '/reference/errors' },
          { text: 'Figures', link: '/reference/figures' },
          { text: 'API', link: '/reference/api/' },
        ],
      },
    ],
    search: { provider: 'local' },
  },
});
