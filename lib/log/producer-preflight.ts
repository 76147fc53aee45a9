import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { partitionPk, type TopicItem } from '../storage/schema.ts';
import { PRODUCER_ID_COUNTER_KEY, unissued, wasIssued } from './producer-ids.ts';
import { judgeProducer, producerStateSk, type ProducerIdentity, type StoredProducerState } from './producer-state.ts';

/** BatchGetItem takes at most 100 keys (an AWS limit). */
const BATCH_GET_KEYS = 100;

/**
 * Refuses a request before anything is written when one of its idempotent batches would be
 * refused at commit: an unissued producer id, a fenced epoch or a sequence out of order.
 * Only requests that need more than one transaction pay for it (one consistent BatchGetItem
 * per 100 partitions), so a refusal can no longer come after an earlier transaction has
 * committed part of the request. What can still fail later is not the producer's doing: the
 * topic deleted meanwhile, throttling, or another writer with the same producer id and epoch.
 */
export async function refuseBeforeWriting(storage: Storage, topic: TopicItem, producers: ReadonlyArray<{ partition: number; producer: ProducerIdentity }>): Promise<void> {
  const keys = producers.map(({ partition, producer }) => ({ pk: partitionPk(topic.topicId, partition), sk: producerStateSk(producer.producerId) }));
  const needsCounter = producers.some(({ producer }) => producer.firstSequence === 0);
  const found = await batchGet(storage, needsCounter ? [...keys, PRODUCER_ID_COUNTER_KEY] : keys);
  const counter = found.get(`${PRODUCER_ID_COUNTER_KEY.pk}\u0000${PRODUCER_ID_COUNTER_KEY.sk}`)?.nextId;
  for (const [i, { partition, producer }] of producers.entries()) {
    if (producer.firstSequence === 0 && !wasIssued(producer.producerId, typeof counter === 'number' ? counter : undefined)) {
      throw unissued(producer.producerId);
    }
    const key = keys[i] as { pk: string; sk: string };
    const verdict = judgeProducer(partition, producer, found.get(`${key.pk}\u0000${key.sk}`) as StoredProducerState | undefined);
    if (verdict.kind === 'refused') throw verdict.error;
  }
}

async function batchGet(storage: Storage, keys: ReadonlyArray<{ pk: string; sk: string }>): Promise<Map<string, Record<string, unknown>>> {
  const table = storage.env.tableName;
  const found = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
    let pending: Record<string, { Keys: Array<Record<string, unknown>>; ConsistentRead: boolean }> | undefined = { [table]: { Keys: keys.slice(i, i + BATCH_GET_KEYS), ConsistentRead: true } };
    while (pending !== undefined && Object.keys(pending).length > 0) {
      const result = await storage.ddb.send(new BatchGetCommand({ RequestItems: pending }));
      for (const item of result.Responses?.[table] ?? []) found.set(`${String(item.pk)}\u0000${String(item.sk)}`, item);
      pending = result.UnprocessedKeys as typeof pending;
    }
  }
  return found;
}
