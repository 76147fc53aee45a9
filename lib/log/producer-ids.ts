import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';

const COUNTER_KEY = { pk: 'PRODUCER_IDS', sk: 'NEXT' };

/**
 * Kafka's InitProducerId for an idempotent producer: a producer id never handed out before
 * (one atomic counter increment) at epoch 0. Sequences then start at 0 on every partition.
 */
export async function initProducerId(storage: Storage): Promise<{ producerId: number; producerEpoch: number }> {
  const result = await storage.ddb.send(
    new UpdateCommand({ TableName: storage.env.tableName, Key: COUNTER_KEY, UpdateExpression: 'ADD nextId :one', ExpressionAttributeValues: { ':one': 1 }, ReturnValues: 'UPDATED_NEW' }),
  );
  return { producerId: Number(result.Attributes?.nextId), producerEpoch: 0 };
}
