/**
 * How `consume` rides out a server restart. The client's consumers retry retriable
 * failures themselves, without limit and with capped backoff, reporting each attempt; the
 * CLI notes each one on stderr (noteRetries). A failure that still ends a session (a
 * retriable one the client gave up on, e.g. with --follow around a fresh join) restarts it
 * after a backoff that doubles up to a cap; anything else ends the command.
 */
import type { RetryEvent } from '../lib/client/index.ts';
import { SluiceError } from '../lib/errors.ts';
import { formatError } from './format.ts';

/** The stderr note for a failed attempt the client retries. */
export function retryNote(error: SluiceError, delayMs: number): string {
  return `Lost the server (${formatError(error, false).trimEnd()}); retrying in ${(delayMs / 1000).toFixed(1)} s\n`;
}

/** Notes each retried attempt of `consumer` on stderr. */
export function noteRetries(consumer: { on(event: 'retry', listener: (event: RetryEvent) => void): void }): void {
  consumer.on('retry', (event) => process.stderr.write(retryNote(event.error, event.delayMs)));
}

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
      process.stderr.write(retryNote(error, backoffMs));
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      if (stopped()) return;
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    }
  }
}
