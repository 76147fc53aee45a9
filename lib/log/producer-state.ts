/**
 * Kafka's idempotent-producer rules (KIP-98, ProducerStateManager), as pure functions over
 * the state the sequencer stores per partition and producer (`P#…`/`PID#<producerId>`).
 * The sequencer turns them into condition expressions and judges a failed condition with
 * them; a request spanning several transactions judges the stored state with them before
 * anything is written.
 */
import { SluiceError } from '../errors.ts';

/** An idempotent producer's batches on one partition in one request: Kafka's producer id, epoch and sequences. */
export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  /** Sequence of the last record, wrapped as Kafka wraps it (see nextSequence). */
  lastSequence: number;
}

/** An idempotent producer's last committed batch on one partition, as stored. */
export interface StoredProducerState {
  producerEpoch: number;
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
  /** The LogAppendTime the batch was stamped with; absent on CreateTime topics. */
  logAppendTimeMs?: number;
}

/** The sort key of a producer's state item in a partition. */
export function producerStateSk(producerId: bigint): string {
  return `PID#${producerId}`;
}

/** Kafka's sequences are int32 and wrap from 2^31 - 1 back to 0 (DefaultRecordBatch.incrementSequence). */
export const MAX_SEQUENCE = 2 ** 31 - 1;

/** `sequence + increment`, wrapped at MAX_SEQUENCE as Kafka does. */
export function nextSequence(sequence: number, increment: number): number {
  return (sequence + increment) % (MAX_SEQUENCE + 1);
}

/** The sequence that must precede `sequence` in the same epoch. */
export function previousSequence(sequence: number): number {
  return sequence === 0 ? MAX_SEQUENCE : sequence - 1;
}

/** What a batch may do given the stored state: append, answer as a retry of the last batch, or be refused. */
export type ProducerVerdict = { kind: 'append' } | { kind: 'duplicate'; of: StoredProducerState } | { kind: 'refused'; error: SluiceError };

/**
 * Kafka's checks (ProducerAppendInfo.checkProducerEpoch / checkSequence), as Kafka 1.0-2.4
 * made them: a producer with no state on a partition, or in a new epoch, starts at sequence
 * 0 (today's Kafka accepts any sequence without state; the stricter rule never appends after
 * a gap it cannot see). Never mutates anything.
 */
export function judgeProducer(partition: number, producer: ProducerIdentity, stored: StoredProducerState | undefined): ProducerVerdict {
  const { producerId, producerEpoch, firstSequence, lastSequence } = producer;
  const refuse = (error: SluiceError): ProducerVerdict => ({ kind: 'refused', error });
  if (stored === undefined) {
    if (firstSequence === 0) return { kind: 'append' };
    // Kafka 1.0-2.4's answer (UnknownProducerIdException): the state may have expired; the
    // producer resets its sequences and resends, knowing nothing of this batch was appended.
    return refuse(new SluiceError('UNKNOWN_PRODUCER_ID', `Producer ${producerId} has no state on partition ${partition} (never written, or expired a day after its last write), so its first batch must start at sequence 0, not ${firstSequence}`));
  }
  if (stored.producerEpoch > producerEpoch) {
    return refuse(new SluiceError('INVALID_PRODUCER_EPOCH', `Producer ${producerId} epoch ${producerEpoch} is fenced by epoch ${stored.producerEpoch}`));
  }
  if (stored.producerEpoch < producerEpoch) {
    if (firstSequence === 0) return { kind: 'append' };
    return refuse(new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Producer ${producerId} epoch ${producerEpoch} is new on partition ${partition}, so it must start at sequence 0, not ${firstSequence}`));
  }
  if (stored.firstSequence === firstSequence && stored.lastSequence === lastSequence) return { kind: 'duplicate', of: stored };
  if (previousSequence(firstSequence) === stored.lastSequence) return { kind: 'append' };
  return refuse(
    new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Producer ${producerId} sent sequence ${firstSequence} on partition ${partition}, but its last committed batch ended at ${stored.lastSequence}`),
  );
}

/**
 * The condition on the stored state item under which `producer` may append: exactly the
 * `append` cases of judgeProducer, so a failed condition is judged by it without a read.
 */
export function appendCondition(producer: ProducerIdentity): { ConditionExpression: string; ExpressionAttributeValues: Record<string, number> } {
  const inSequence = 'producerEpoch = :epoch AND lastSequence = :previous';
  const values = { ':epoch': producer.producerEpoch, ':previous': previousSequence(producer.firstSequence) };
  if (producer.firstSequence !== 0) return { ConditionExpression: inSequence, ExpressionAttributeValues: values };
  return { ConditionExpression: `attribute_not_exists(pk) OR producerEpoch < :epoch OR (${inSequence})`, ExpressionAttributeValues: values };
}

/** The stored state in a DynamoDB AttributeValue map (a cancelled transaction's ALL_OLD), or undefined when absent. */
export function storedStateFromAttributes(item: Record<string, unknown> | undefined): StoredProducerState | undefined {
  if (item === undefined || Object.keys(item).length === 0) return undefined;
  const n = (name: string): number | undefined => {
    const text = (item[name] as { N?: string } | undefined)?.N;
    return text === undefined ? undefined : Number(text);
  };
  const logAppendTimeMs = n('logAppendTimeMs');
  return {
    producerEpoch: n('producerEpoch') ?? -1,
    firstSequence: n('firstSequence') ?? -1,
    lastSequence: n('lastSequence') ?? -1,
    baseOffset: n('baseOffset') ?? -1,
    ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }),
  };
}

/**
 * The producer behind one partition's batches in a request, if any. Kafka's rule: one
 * producer id and epoch per partition and request, sequences contiguous from batch to batch.
 */
export function producerOfBatches(partition: number, headers: ReadonlyArray<{ producerId: bigint; producerEpoch: number; baseSequence: number; lastOffsetDelta: number }>): ProducerIdentity | undefined {
  const [first] = headers;
  if (first === undefined || first.producerId < 0n) return undefined;
  let expected = first.baseSequence;
  let last = first.baseSequence;
  for (const header of headers) {
    if (header.producerId !== first.producerId || header.producerEpoch !== first.producerEpoch) {
      throw new SluiceError('INVALID_RECORD', `Batches for partition ${partition} mix producer ids or epochs in one request`);
    }
    if (header.producerEpoch < 0) throw new SluiceError('INVALID_RECORD', `Batch for partition ${partition} has producer id ${header.producerId} but no producer epoch`);
    if (header.baseSequence !== expected || header.baseSequence < 0) {
      throw new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Batch for partition ${partition} starts at sequence ${header.baseSequence}, expected ${expected}`);
    }
    last = nextSequence(header.baseSequence, header.lastOffsetDelta);
    expected = nextSequence(last, 1);
  }
  return { producerId: first.producerId, producerEpoch: first.producerEpoch, firstSequence: first.baseSequence, lastSequence: last };
}
