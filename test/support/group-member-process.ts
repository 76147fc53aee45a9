/**
 * A consumer-group member in a process of its own, for tests that kill it with SIGKILL:
 * `tsx test/support/group-member-process.ts <url> <group> <topic> <sessionTimeoutMs> <heartbeatIntervalMs> <handleMs>`.
 * Prints one JSON line per record as it starts and ends handling it
 * (`{"event":"start"|"end","partition","offset","atMs"}`), and `{"event":"ready"}` once joined.
 */
import { Sluice } from '../../lib/client/index.ts';

const [url, groupId, topic, sessionTimeoutMs, heartbeatIntervalMs, handleMs] = process.argv.slice(2) as [string, string, string, string, string, string];
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

const consumer = new Sluice({ url }).consumer({ groupId, sessionTimeoutMs: Number(sessionTimeoutMs), heartbeatIntervalMs: Number(heartbeatIntervalMs), autoCommitIntervalMs: 200, maxWaitMs: 500, autoOffsetReset: 'earliest' });
consumer.subscribe({ topic });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    print({ event: 'start', partition, offset: message.offset, atMs: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, Number(handleMs)));
    print({ event: 'end', partition, offset: message.offset, atMs: Date.now() });
  },
});
print({ event: 'ready' });
