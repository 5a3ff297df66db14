// The capacity bench alone: node --import tsx bench/coordinatorCapacity.main.ts [--quick]
import { benchCoordinator } from './coordinatorCapacity.ts';

const notes: string[] = [];
const results = await benchCoordinator({ quick: process.argv.includes('--quick'), log: (s) => void process.stderr.write(`${s}\n`), notes });
process.stdout.write(`${JSON.stringify({ results, notes }, null, 2)}\n`);
