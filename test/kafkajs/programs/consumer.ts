// A kafkajs consumer group as kafkajs's README shows it, with the events a program watches.
import { Kafka, type KafkaMessage } from 'kafkajs';

export interface Consumed {
  messages: Array<{ topic: string; partition: number; key: string | undefined; value: string | undefined; offset: string; headers: KafkaMessage['headers'] }>;
  events: string[];
  committed: Array<{ topic: string; partition: number; offset: string }>;
}

export async function consumerProgram(brokers: string[], topic: string, groupId: string, expected: number): Promise<Consumed> {
  const kafka = new Kafka({ clientId: 'my-app', brokers });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  const result: Consumed = { messages: [], events: [], committed: [] };
  consumer.on(consumer.events.GROUP_JOIN, (e) => result.events.push(`${e.type}:${Object.keys(e.payload.memberAssignment).join()}`));
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    result.events.push(e.type);
    for (const t of e.payload.topics) for (const p of t.partitions) result.committed.push({ topic: t.topic, partition: p.partition, offset: p.offset });
  });
  consumer.on(consumer.events.FETCH_START, () => {
    if (!result.events.includes('consumer.fetch_start')) result.events.push('consumer.fetch_start');
  });

  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    autoCommitInterval: 100,
    eachMessage: async ({ topic, partition, message, heartbeat }) => {
      result.messages.push({ topic, partition, key: message.key?.toString(), value: message.value?.toString(), offset: message.offset, headers: message.headers });
      await heartbeat();
      if (result.messages.length === expected) done();
    },
  });
  await all;
  await consumer.disconnect();
  return result;
}
