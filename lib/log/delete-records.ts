import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure } from '../storage/conditions.ts';
import { HEAD_SK, partitionPk, type TopicItem } from '../storage/schema.ts';
import { requestCompaction } from '../retention/trigger.ts';
import { offsetOutOfRange, readPartitionState } from './read.ts';

/**
 * Kafka's DeleteRecords: raises the log start offset to `offset` (-1: the high watermark),
 * never past the high watermark and never backwards, and queues a compaction to reclaim
 * the space. Returns the new low watermark.
 */
export async function deleteRecords(storage: Storage, topic: TopicItem, partition: number, offset: number): Promise<{ lowWatermark: number }> {
  const state = await readPartitionState(storage, topic, partition);
  const target = offset === -1 ? state.highWatermark : offset;
  if (target > state.highWatermark) throw offsetOutOfRange(target, state, '; DeleteRecords cannot go past the high watermark');
  if (target <= state.logStartOffset) return { lowWatermark: state.logStartOffset };
  try {
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk: partitionPk(topic.topicId, partition), sk: HEAD_SK },
        UpdateExpression: 'SET logStartOffset = :target',
        ConditionExpression: 'attribute_exists(pk) AND nextOffset >= :target AND logStartOffset < :target',
        ExpressionAttributeValues: { ':target': target },
      }),
    );
  } catch (error) {
    // Someone raised it further meanwhile: theirs stands, as the larger value.
    if (!isConditionFailure(error)) throw error;
    return { lowWatermark: (await readPartitionState(storage, topic, partition)).logStartOffset };
  }
  await requestCompaction({ topic: topic.name, partition });
  return { lowWatermark: target };
}
