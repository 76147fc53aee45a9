// kafkajs's admin client as its docs show it.
import { ConfigResourceTypes, Kafka, type KafkaJSDeleteGroupsError } from 'kafkajs';

export async function adminProgram(brokers: string[], topic: string, groupId: string) {
  const kafka = new Kafka({ clientId: 'admin-app', brokers });
  const admin = kafka.admin();
  await admin.connect();

  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '86400000' }] }] });
  const createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const listed = await admin.listTopics();
  await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] });
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });

  const producer = kafka.producer();
  await producer.send({ topic, messages: [0, 1, 2].flatMap((partition) => [{ partition, value: 'a' }, { partition, value: 'b' }]) });
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets(topic);
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 60_000);
  const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }] });
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
  const altered = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }] });
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '1' }] });
  const afterDelete = await admin.fetchTopicOffsets(topic);

  await admin.resetOffsets({ groupId, topic, earliest: true });
  const reset = await admin.fetchOffsets({ groupId, topics: [topic] });
  await admin.setOffsets({ groupId, topic, partitions: [0, 1, 2].map((partition) => ({ partition, offset: '1' })) });
  const set = await admin.fetchOffsets({ groupId, topics: [topic] });
  const groups = await admin.listGroups();
  const described = await admin.describeGroups([groupId]);

  const deletedGroups = await admin.deleteGroups([groupId]);
  const groupsAfterDelete = await admin.listGroups();
  let deleteUnknown = '';
  try {
    await admin.deleteGroups([`${groupId}-never-seen`]);
  } catch (error) {
    deleteUnknown = `${(error as Error).name}: ${(error as KafkaJSDeleteGroupsError).groups.map((g) => `${g.groupId} ${g.error?.type}`).join(', ')}`;
  }

  const unsupported: string[] = [];
  for (const call of [() => admin.describeCluster(), () => kafka.producer({ transactionalId: 'tx', idempotent: true }).transaction()]) {
    try {
      await call();
    } catch (error) {
      unsupported.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
  }

  await admin.deleteTopics({ topics: [topic] });
  const afterDeleteTopics = await admin.listTopics();
  await admin.disconnect();
  return { created, createdAgain, listed, metadata, offsets, byTime, configs, altered, afterDelete, reset, set, groups, described, deletedGroups, groupsAfterDelete, deleteUnknown, unsupported, afterDeleteTopics };
}
