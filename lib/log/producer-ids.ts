import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';

const COUNTER_KEY = { pk: 'PRODUCER_IDS', sk: 'NEXT' };

/** Kafka's producer epoch is an int16: past it, InitProducerId hands out a new id at epoch 0. */
export const MAX_PRODUCER_EPOCH = 32_767;

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

/**
 * Kafka's InitProducerId with the caller's current id and epoch (KIP-360), for an idempotent
 * producer whose request had an unknown outcome: the same id at the next epoch, so the
 * sequencer fences any late copy of the old epoch's batches (INVALID_PRODUCER_EPOCH) and
 * sequences restart at 0. Asked twice with the same epoch (a retry after a lost answer), it
 * answers the same. Past MAX_PRODUCER_EPOCH, a new id at epoch 0.
 */
export async function bumpProducerEpoch(storage: Storage, current: { producerId: number; producerEpoch: number }): Promise<{ producerId: number; producerEpoch: number }> {
  if (current.producerEpoch >= MAX_PRODUCER_EPOCH) return initProducerId(storage);
  return { producerId: current.producerId, producerEpoch: current.producerEpoch + 1 };
}
