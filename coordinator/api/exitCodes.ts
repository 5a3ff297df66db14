/** The CLI's exit statuses, and the one for each kind of error in shared/errors.ts. */
import { errorKind, type ErrorCode, type ErrorKind } from '../../shared/errors.ts';

export const EXIT = { ok: 0, failed: 1, badInput: 2, someErrors: 3, interrupted: 130 } as const;

const BY_KIND: Readonly<Record<ErrorKind, number>> = {
  usage: EXIT.badInput,
  job: EXIT.failed,
  // An input or actor error that ends the run (rather than a row or a refused tab) is a failed job.
  input: EXIT.failed,
  actor: EXIT.failed,
};

/** The exit status of a run that ended with this error. */
export function exitCodeFor(code: ErrorCode): number {
  return BY_KIND[errorKind(code)];
}
