/**
 * A group member running with `retry`, in a process of its own that kills itself with SIGKILL
 * around its first forward to `<topic>.retry.1` — a crash between two steps:
 * `tsx test/support/retry-member-process.ts <url> <group> <topic> <failKey> before-forward|after-forward`.
 *   before-forward  dies as the forward's produce request is about to leave
 *   after-forward   dies once the forward is acknowledged, before the handler returns (so before any commit of it)
 * The handler throws on `failKey` in the source topic and succeeds everywhere else. Prints one
 * JSON line per record handled successfully (`{"event":"handled","topic","value"}`).
 */
import { Sluice } from '../../lib/client/index.ts';

const [url, groupId, topic, failKey, mode] = process.argv.slice(2) as [string, string, string, string, 'before-forward' | 'after-forward'];
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const forwardPath = `/v1/topics/${topic}.retry.1/records`;

const crashingFetch: typeof globalThis.fetch = async (input, init) => {
  const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
  const forward = path === forwardPath && init?.method === 'POST';
  if (forward && mode === 'before-forward') process.kill(process.pid, 'SIGKILL');
  const response = await globalThis.fetch(input, init);
  if (forward && mode === 'after-forward' && response.ok) process.kill(process.pid, 'SIGKILL');
  return response;
};

const consumer = new Sluice({ url, fetch: crashingFetch }).consumer({ groupId, sessionTimeoutMs: 1000, heartbeatIntervalMs: 100, autoCommitIntervalMs: 50, maxWaitMs: 200, autoOffsetReset: 'earliest' });
consumer.subscribe({ topic });
await consumer.run({
  retry: { delaysMs: [200] },
  eachMessage: async ({ topic: from, message }) => {
    if (from === topic && message.key?.toString() === failKey) throw new Error(`cannot handle ${failKey}`);
    print({ event: 'handled', topic: from, value: message.value?.toString() });
  },
});
