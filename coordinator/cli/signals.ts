/**
 * Ctrl-C and SIGTERM for a command that runs until its work ends: the first ends the wait, and the
 * handlers are removed when the wait ends either way (a command run twice in one process, as the
 * tests do, must not leave the first one's handlers behind).
 */
export async function untilInterrupted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T | 'interrupted'> {
  let onSignal!: () => void;
  const interrupted = new Promise<'interrupted'>((resolve) => (onSignal = () => resolve('interrupted')));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal);
  try {
    return await Promise.race([work, interrupted]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    signal?.removeEventListener('abort', onSignal);
  }
}
