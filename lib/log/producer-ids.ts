import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SluiceError } from '../errors.ts';
import type { Storage } from '../storage/clients.ts';

/** The counter behind InitProducerId. `nextId` is the last id handed out: ids 1..nextId have been issued. */
export const PRODUCER_ID_COUNTER_KEY = { pk: 'PRODUCER_IDS', sk: 'NEXT' } as const;

/** Kafka's producer epoch is an int16: past it, InitProducerId hands out a new id at epoch 0. */
export const MAX_PRODUCER_EPOCH = 32_767;

/**
 * Kafka's InitProducerId for an idempotent producer: a producer id never handed out before
 * (one atomic counter increment) at epoch 0. Sequences then start at 0 on every partition.
 */
export async function initProducerId(storage: Storage): Promise<{ producerId: number; producerEpoch: number }> {
  const result = await storage.ddb.send(
    new UpdateCommand({ TableName: storage.env.tableName, Key: PRODUCER_ID_COUNTER_KEY, UpdateExpression: 'ADD nextId :one', ExpressionAttributeValues: { ':one': 1 }, ReturnValues: 'UPDATED_NEW' }),
  );
  return { producerId: Number(result.Attributes?.nextId), producerEpoch: 0 };
}

/** True when `producerId` is one InitProducerId has handed out, given the counter's `nextId` (undefined: none yet). */
export function wasIssued(producerId: bigint, counter: number | undefined): boolean {
  return counter !== undefined && producerId >= 1n && producerId <= BigInt(counter);
}

/**
 * A transaction item that holds only if every id up to `producerId` was issued: Kafka
 * refuses ids it never handed out. It rides along in the commit that first meets a producer
 * (sequence 0), so checking costs no round trip. Ids below 1 are never issued; the caller
 * refuses them before writing (checkIssuable).
 */
export function issuedCheck(storage: Storage, producerId: bigint): Record<string, unknown> {
  return {
    ConditionCheck: {
      TableName: storage.env.tableName,
      Key: PRODUCER_ID_COUNTER_KEY,
      ConditionExpression: 'nextId >= :id',
      ExpressionAttributeValues: { ':id': producerId },
    },
  };
}

/** Refuses, before anything is written, a producer id InitProducerId can never have issued (ids start at 1). */
export function checkIssuable(producerId: bigint): void {
  if (producerId < 1n) throw unissued(producerId);
}

/** The refusal of a producer id that was never issued. */
export function unissued(producerId: bigint): SluiceError {
  return new SluiceError('UNKNOWN_PRODUCER_ID', `Producer id ${producerId} was never issued; get one from POST /v1/producers`);
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
