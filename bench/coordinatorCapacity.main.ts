/** Runs the coordinator capacity bench alone: `node --import tsx bench/coordinatorCapacity.main.ts [--full]`. */
import { benchCoordinator, notes } from './coordinatorCapacity.ts';

const started = performance.now();
const results = await benchCoordinator({ quick: !process.argv.includes('--full'), log: (s) => process.stderr.write(`${s}\n`) });
process.stdout.write(`${JSON.stringify({ results, notes, seconds: Math.round((performance.now() - started) / 100) / 10 }, null, 2)}\n`);
