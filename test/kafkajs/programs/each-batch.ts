// eachBatch as kafkajs's docs show it: resolveOffset per message, heartbeat, commit when necessary.
import { Kafka, logLevel } from 'kafkajs';

export interface Batched {
  batches: Array<{ partition: number; first: string | null; last: string; highWatermark: string; lag: string; count: number }>;
  values: string[];
  uncommittedSeen: number;
  description: { state: string; members: number };
}

export async function eachBatchProgram(brokers: string[], topic: string, groupId: string, expected: number): Promise<Batched> {
  const kafka = new Kafka({ clientId: 'batch-app', brokers, logLevel: logLevel.ERROR, retry: { retries: 5, initialRetryTime: 100 } });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200, maxBytesPerPartition: 1_048_576 });
  const result: Batched = { batches: [], values: [], uncommittedSeen: 0, description: { state: '', members: 0 } };

  await consumer.connect();
  await consumer.subscribe({ topics: [new RegExp(`^${topic}$`)], fromBeginning: true });
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    eachBatchAutoResolve: true,
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, uncommittedOffsets, isRunning, isStale }) => {
      result.batches.push({ partition: batch.partition, first: batch.firstOffset(), last: batch.lastOffset(), highWatermark: batch.highWatermark, lag: batch.offsetLag(), count: batch.messages.length });
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        result.values.push(message.value?.toString() ?? '');
        resolveOffset(message.offset);
        await heartbeat();
      }
      result.uncommittedSeen += uncommittedOffsets().topics.reduce((n, t) => n + t.partitions.length, 0);
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }] }] });
      if (result.values.length === expected) done();
    },
  });
  await all;
  const described = await consumer.describeGroup();
  result.description = { state: described.state, members: described.members.length };
  await consumer.disconnect();
  return result;
}
