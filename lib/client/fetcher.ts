/**
 * One fetch of one partition, binary: `Accept: application/vnd.sluice.batches` returns the
 * stored RecordBatch v2 bytes in frames, with base offsets filled in and the partition's
 * bounds in `x-sluice-*` headers. Batches are whole, so the first may start before the
 * requested offset; records below it are skipped here, as a Kafka consumer skips them.
 */
import { BATCHES_MEDIA_TYPE, decodeFrames } from '../codec/framing.ts';
import { decodeRecordBatch } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import { pathOf, type RetryListener, type Transport } from './http.ts';
import { toConsumedMessage } from './message.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type { ConsumedBatch, ConsumedMessage, OffsetLookup, OffsetSpec } from './types.ts';

export interface FetchParams {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal;
  /** Told of every failed attempt that will be retried. */
  onRetry?: RetryListener;
}

/** The binary fetch route returns at most this many records; bytes are the real budget. */
const MAX_RECORDS_PER_FETCH = 10_000;

function headerNumber(headers: Headers, name: string, fallback: number): number {
  const value = headers.get(name);
  const parsed = value === null ? Number.NaN : Number(value);
  return Number.isSafeInteger(parsed) ? parsed : fallback;
}

/** Decodes a binary fetch body into the records at or after `offset`; control batches are skipped. */
export async function decodeFetchBody(body: Buffer, offset: number): Promise<{ messages: ConsumedMessage[]; lastOffset: number }> {
  const messages: ConsumedMessage[] = [];
  let lastOffset = offset - 1;
  for (const frame of decodeFrames(body)) {
    const { header, records } = await decodeRecordBatch(frame.batch);
    lastOffset = Math.max(lastOffset, header.baseOffset + header.lastOffsetDelta);
    if (header.isControl) continue;
    for (const record of records) if (record.offset >= offset) messages.push(toConsumedMessage(record));
  }
  return { messages, lastOffset };
}

/** Fetches from `offset`, long-polling up to `waitMs` at the end of the log. */
export async function fetchPartition(transport: Transport, retry: ResolvedRetryOptions, params: FetchParams): Promise<ConsumedBatch> {
  const response = await transport.send(
    {
      method: 'GET',
      path: pathOf('v1', 'topics', params.topic, 'partitions', params.partition, 'records'),
      query: { offset: params.offset, maxBytes: params.maxBytes, maxRecords: MAX_RECORDS_PER_FETCH, waitMs: params.waitMs },
      headers: { accept: BATCHES_MEDIA_TYPE },
      ...(params.signal === undefined ? {} : { signal: params.signal }),
      extraTimeoutMs: params.waitMs,
    },
    retry,
    params.onRetry,
  );
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith(BATCHES_MEDIA_TYPE)) {
    throw new SluiceError('UNKNOWN_SERVER_ERROR', `A binary fetch of ${params.topic}/${params.partition} answered ${JSON.stringify(type)}, not ${BATCHES_MEDIA_TYPE}`);
  }
  const { messages, lastOffset } = await decodeFetchBody(response.body, params.offset);
  const highWatermark = headerNumber(response.headers, 'x-sluice-high-watermark', lastOffset + 1);
  return {
    topic: params.topic,
    partition: params.partition,
    highWatermark,
    logStartOffset: headerNumber(response.headers, 'x-sluice-log-start-offset', 0),
    messages,
    nextOffset: Math.max(params.offset, headerNumber(response.headers, 'x-sluice-next-offset', lastOffset + 1)),
  };
}

/** Kafka's ListOffsets for one partition, abortable. */
export async function lookupOffset(transport: Transport, retry: ResolvedRetryOptions, topic: string, partition: number, spec: OffsetSpec, signal?: AbortSignal, onRetry?: RetryListener): Promise<OffsetLookup> {
  return transport.json<OffsetLookup>(
    { method: 'GET', path: pathOf('v1', 'topics', topic, 'partitions', partition, 'offsets'), query: { timestamp: String(spec) }, ...(signal === undefined ? {} : { signal }) },
    retry,
    onRetry,
  );
}
