import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { purgeTopicBlobs } from '../blobs/collect.ts';
import { partitionPk, partitionPrefix, type TopicItem } from '../storage/schema.ts';

const PURGE_CONCURRENCY = 8;

/**
 * Removes a deleted topic's partition items and objects. Index entries go before objects,
 * so no entry ever points at a missing object. A crash part-way leaves only unreferenced
 * items keyed by a dead topicId, invisible to a re-created topic of the same name.
 */
export async function purgeTopicData(storage: Storage, topic: TopicItem): Promise<void> {
  const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
  for (let i = 0; i < partitions.length; i += PURGE_CONCURRENCY) {
    await Promise.all(partitions.slice(i, i + PURGE_CONCURRENCY).map((p) => purgePartition(storage, topic, p)));
  }
  await purgeTopicBlobs(storage, topic);
}

async function purgePartition(storage: Storage, topic: TopicItem, partition: number): Promise<void> {
  await deletePartitionItems(storage, partitionPk(topic.topicId, partition));
  await deletePrefix(storage, partitionPrefix(topic.name, partition, topic.topicId));
}

async function deletePartitionItems(storage: Storage, pk: string): Promise<void> {
  const table = storage.env.tableName;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ProjectionExpression: 'pk, sk',
        ExclusiveStartKey: startKey,
      }),
    );
    const keys = (page.Items ?? []).map((item) => ({ pk: item.pk, sk: item.sk }));
    for (let i = 0; i < keys.length; i += 25) {
      let requests: Record<string, Array<{ DeleteRequest: { Key: Record<string, unknown> } }>> | undefined = {
        [table]: keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })),
      };
      while (requests !== undefined && (requests[table]?.length ?? 0) > 0) {
        const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
        requests = result.UnprocessedItems as typeof requests;
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}

/** Deletes every object under `prefix`, a page (≤ 1000 keys) at a time. */
export async function deletePrefix(storage: Storage, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await storage.s3.send(new ListObjectsV2Command({ Bucket: storage.env.bucketName, Prefix: prefix, ContinuationToken: token }));
    const objects = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
    if (objects.length > 0) {
      await storage.s3.send(new DeleteObjectsCommand({ Bucket: storage.env.bucketName, Delete: { Objects: objects, Quiet: true } }));
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}
