/**
 * How `consume --follow` rides out a server restart: a retriable failure (the server is
 * unreachable, storage is throttled) is noted on stderr and the session is started again after
 * a backoff that doubles up to a cap; anything else ends the command. Without --follow a
 * failure ends the command at once, as before.
 */
import { SluiceError } from '../lib/errors.ts';
import { formatError } from './format.ts';

/** First wait after a failure, and its cap. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;

/**
 * Runs `session` until it returns; with `follow`, retriable failures restart it. `session`
 * gets a callback to call once it is consuming again, which resets the backoff.
 */
export async function withReconnect(follow: boolean, session: (connected: () => void) => Promise<void>, stopped: () => boolean): Promise<void> {
  let backoffMs = FIRST_BACKOFF_MS;
  for (;;) {
    try {
      return await session(() => (backoffMs = FIRST_BACKOFF_MS));
    } catch (error) {
      if (!follow || stopped() || !(error instanceof SluiceError) || !error.retriable) throw error;
      process.stderr.write(`Lost the server (${formatError(error, false).trimEnd()}); retrying in ${(backoffMs / 1000).toFixed(1)} s\n`);
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      if (stopped()) return;
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    }
  }
}
