/**
 * The figures page (docs/reference/figures.md), made from bench/results.json: the last benchmark run's
 * machine, its targets met and missed (with the run's own reasons), and every number, as
 * bench/report.ts writes bench/RESULTS.md from the same run.
 */
import { readFileSync } from 'node:fs';
import { flatten, markdown } from '../../bench/report.ts';
import { plainText } from './markdownText.ts';

interface Results {
  machine: Record<string, string>;
  quick: boolean;
  date: string;
  seconds: number;
  results: Record<string, unknown>;
  notes: string[];
}

export function figures(resultsPath: string): string {
  const run = JSON.parse(readFileSync(resultsPath, 'utf8')) as Results;
  const body = plainText(markdown(run.machine, flatten(run.results), run.notes, run.quick, run.seconds, run.date));
  return body.replace(
    /^# tabpool benchmark results\n/,
    '# Figures\n\n<!-- Generated from bench/results.json by `npm run docs:gen`; do not edit. -->\n\n' +
      'The latest `npm run bench` on this project, with the machine it ran on. A target missed says why, from that ' +
      "run's own numbers; a target is never redefined to fit a measurement.\n",
  );
}
