/** How `stop()` / `disconnect()` bound their wait: Kafka's close(timeout), 30 s by default. */

/** How long `stop()` / `disconnect()` wait for handlers and last requests by default. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;

/** Options of `stop()` and `disconnect()`. */
export interface CloseOptions {
  /** Longest wait for what is in progress; then it is abandoned. @default 30000 */
  timeoutMs?: number;
}

/** Resolves when `work` settles or after `timeoutMs`, whichever is first. */
export async function settleWithin(work: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([work.then(() => {}, () => {}), elapsed]);
  clearTimeout(timer);
}
