/**
 * What a worker page does when its socket closes: rejoin after a backoff, or stop and say why. A
 * tab of a standing pool keeps trying for as long as it takes (the head restarting must not need a
 * person to reopen it); a job's tab gives up after MAX_RECONNECTS, or at once when it was refused at
 * the upgrade or closed for breaking the protocol.
 */
import { NO_REJOIN_CODES } from '../../shared/closeCodes.ts';
import type { SerializedError } from '../../shared/errors.ts';

export const MAX_RECONNECTS = 10;

export type Rejoin = { rejoin: true; delayMs: number; reason: string } | { rejoin: false; error: SerializedError };

export function afterClose(o: {
  code: number;
  reason: string;
  opened: boolean;
  standing: boolean;
  noRejoin: boolean;
  /** Attempts so far, this one not counted. */
  reconnects: number;
  error: SerializedError | null;
}): Rejoin {
  if (!o.opened && !o.standing) {
    // Refused at the upgrade (wrong token) or the coordinator is gone: nothing to rejoin.
    const message = 'the coordinator refused this page or is not running; open the URL it printed (with its token)';
    return { rejoin: false, error: { code: 'UNAUTHORIZED', message } };
  }
  const why = `the connection closed (code ${o.code}${o.reason ? `: ${o.reason}` : ''})`;
  if (o.noRejoin || NO_REJOIN_CODES.has(o.code) || (!o.standing && o.reconnects >= MAX_RECONNECTS))
    return { rejoin: false, error: o.error ?? { code: 'PROTOCOL_ERROR', message: why } };
  const attempt = o.reconnects + 1;
  const delayMs = Math.min(10_000, 500 * 2 ** (attempt - 1));
  const wait = `${(delayMs / 1000).toFixed(1)}s`;
  return {
    rejoin: true,
    delayMs,
    reason: o.standing
      ? `${why}; rejoining the pool in ${wait} (attempt ${attempt})`
      : `${why}; rejoining in ${wait} as a new actor (attempt ${attempt} of ${MAX_RECONNECTS})`,
  };
}
