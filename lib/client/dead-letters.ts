/**
 * Reading a dead-letter topic back (`sluice dlq inspect|replay`): each record with the origin,
 * attempts and error its retry headers carry (retry-headers.ts), and the record a replay
 * sends: the original key, value and headers, without the retry headers, so it starts over.
 */
import type { Sluice } from './sluice.ts';
import { headerString, originOf, RETRY_HEADERS, userHeaders, type RecordOrigin } from './retry-headers.ts';
import type { ConsumedBatch, ConsumedMessage, Message } from './types.ts';

/** One record of a dead-letter topic. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  message: ConsumedMessage;
  /** Where it was first consumed; undefined when it carries no origin headers (not written by a retrying consumer). */
  origin: RecordOrigin | undefined;
  /** Attempts that failed. */
  attempts: number | undefined;
  error: { name: string; message: string } | undefined;
  /** `exhausted` or `not-retriable`. */
  reason: string | undefined;
}

/** What the headers of a dead-letter record say. */
export function deadLetterOf(topic: string, partition: number, message: ConsumedMessage): DeadLetter {
  const h = message.headers;
  const hasOrigin = headerString(h, RETRY_HEADERS.originalTopic) !== undefined;
  const attempts = headerString(h, RETRY_HEADERS.attempt);
  const name = headerString(h, RETRY_HEADERS.errorName);
  return {
    topic,
    partition,
    offset: message.offset,
    message,
    origin: hasOrigin ? originOf(topic, partition, message) : undefined,
    attempts: attempts === undefined ? undefined : Number(attempts),
    error: name === undefined ? undefined : { name, message: headerString(h, RETRY_HEADERS.errorMessage) ?? '' },
    reason: headerString(h, RETRY_HEADERS.deadLetterReason),
  };
}

/** The record a replay sends to `topic`: back to its original partition when it goes home, else partitioned by key. */
export function replayMessage(letter: DeadLetter, topic: string): Message {
  const { key, value, headers } = letter.message;
  const home = letter.origin !== undefined && letter.origin.topic === topic;
  return { key, value, headers: userHeaders(headers), ...(home ? { partition: (letter.origin as RecordOrigin).partition } : {}) };
}

/**
 * Reads every record of `topic` up to its end as it is now (the high watermark of each
 * partition at the start), a fetch batch at a time, oldest first per partition. `visit`
 * returning false stops the read early. Memory is bounded by one batch per partition.
 */
export async function readDeadLetters(sluice: Sluice, topic: string, visit: (letters: DeadLetter[]) => Promise<boolean> | boolean): Promise<void> {
  const { partitions } = await sluice.admin().describeTopic(topic);
  const ends = new Map(partitions.filter((p) => p.highWatermark > p.logStartOffset).map((p) => [p.partition, p.highWatermark]));
  if (ends.size === 0) return;
  const consumer = sluice.consumer({ autoOffsetReset: 'earliest' });
  consumer.assign([{ topic, partitions: [...ends.keys()], fromBeginning: true }]);
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  // One visit at a time: callers print or produce in order.
  let visiting = Promise.resolve(true);
  const eachBatch = async ({ batch }: { batch: ConsumedBatch }) => {
    const end = ends.get(batch.partition);
    if (end === undefined) return;
    const letters = batch.messages.filter((m) => m.offset < end).map((m) => deadLetterOf(topic, batch.partition, m));
    visiting = visiting.then((more) => (more && letters.length > 0 ? visit(letters) : more));
    // Awaited before the pause below, which would make the batch stale and drop a visit's error.
    const more = await visiting;
    if (batch.nextOffset >= end) {
      ends.delete(batch.partition);
      consumer.pause([{ topic, partitions: [batch.partition] }]);
    }
    if (!more || ends.size === 0) finish();
  };
  try {
    await consumer.run({ eachBatch });
    await Promise.race([finished, consumer.done()]);
  } finally {
    await consumer.stop();
  }
}
