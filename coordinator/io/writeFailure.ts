/** The one error a failed write of the output becomes, naming the output, the cause and the fix. */
import { TabpoolError } from '../../shared/errors.ts';

const CAUSES: Record<string, string> = {
  ENOSPC: 'its disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'its file system is read-only',
  EIO: 'the disk reported an I/O error',
};

export function writeFailure(out: string, err: unknown): TabpoolError {
  if (err instanceof TabpoolError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const cause = CAUSES[code] ?? (err as Error).message;
  return new TabpoolError(
    'OUTPUT_WRITE_FAILED',
    `--out ${out} could not be written: ${cause} (${(err as Error).message}); every row before this is kept: free space ` +
      '(or move the output where there is room) and run the same command with --resume',
    { cause: err },
  );
}
