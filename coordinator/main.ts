/** The coordinator's entry point: `bin/tabpool.js` runs `main` with the command line. */
export { main } from './cli/program.ts';
