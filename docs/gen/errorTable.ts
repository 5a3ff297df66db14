/**
 * The error-code table (docs/reference/errors.md), made from shared/errors.ts: the one table the CLI,
 * the worker page and output rows all show codes from.
 */
import { ERROR_CODES, type ErrorKind } from '../../shared/errors.ts';
import { plainText } from './markdownText.ts';

const WHERE: Record<ErrorKind, string> = {
  input: 'One input failed: its row carries the error and the job goes on (exit 3 at the end if any row has one).',
  usage: 'The job as given cannot start (a flag, the data, the model): exit 2, before any browser starts.',
  job: 'The job could not finish: exit 1. Rows already written stay; `--resume` continues.',
  actor: 'One tab cannot be an actor: shown on its page and logged by the CLI; the job goes on with the others.',
};

export function errorTable(): string {
  const kinds = Object.keys(WHERE) as ErrorKind[];
  return [
    '# Error codes',
    '',
    '<!-- Generated from shared/errors.ts by `npm run docs:gen`; do not edit. -->',
    '',
    'Every error tabpool reports carries one of these codes, shown the same way on the command line, on the worker page, ' +
      'in output rows (`error.code`) and by the Node API (`TabpoolError.code`). The message adds the specifics: which ' +
      'input, which flag, and the fix.',
    '',
    ...kinds.flatMap((kind) => [
      `## ${kind}`,
      '',
      WHERE[kind],
      '',
      '| code | meaning |',
      '|---|---|',
      ...Object.entries(ERROR_CODES)
        .filter(([, e]) => e.kind === kind)
        .map(([code, e]) => `| \`${code}\` | ${plainText(e.meaning).replace(/\|/g, '\\|')} |`),
      '',
    ]),
  ].join('\n');
}
