// A kafkajs producer as kafkajs's README shows it. It imports 'kafkajs' and is type-checked
// against kafkajs's own types; the test runs it with 'kafkajs' mapped to sluice/kafkajs.
import { CompressionTypes, Kafka, Partitioners, type RecordMetadata } from 'kafkajs';

export async function producerProgram(brokers: string[], topic: string): Promise<{ sent: RecordMetadata[]; batched: RecordMetadata[] }> {
  const kafka = new Kafka({ clientId: 'my-app', brokers });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });

  await producer.connect();
  const sent = await producer.send({
    topic,
    compression: CompressionTypes.GZIP,
    messages: [
      { key: 'user-42', value: 'Hello KafkaJS user!' },
      { key: 'user-42', value: 'Hello again', headers: { 'correlation-id': '2bfb68bb-893a-423b-a7fa-7b568cad5b67' } },
      { value: 'to partition 1', partition: 1 },
    ],
  });
  const batched = await producer.sendBatch({
    topicMessages: [{ topic, messages: [{ key: 'user-7', value: 'batched' }] }],
  });
  await producer.disconnect();
  return { sent, batched };
}
