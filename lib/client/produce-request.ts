/**
 * One produce request: a topic's drained batches encoded as RecordBatch v2 (compressed as
 * configured), framed as `application/vnd.sluice.batches`, sent with retries, and each
 * record acknowledged with its offset from the answer's per-frame base offsets.
 */
import { BATCHES_MEDIA_TYPE, encodeFrames, type Frame } from '../codec/framing.ts';
import { crc32c } from '../codec/crc32c.ts';
import { encodeRecordBatch } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import type { Compression } from './types.ts';
import type { DrainedRequest } from './accumulator.ts';
import { pathOf, type RetryListener, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type { ProducerBatch } from './producer-batch.ts';
import type { BatchIdentity, ProducerIdentity } from './producer-identity.ts';

/** A frame and the records [start, start + count) of its batch it carries. */
interface SourcedFrame extends Frame {
  source: ProducerBatch;
  start: number;
  count: number;
}

interface ProduceResponse {
  batches: Array<{ partition: number; baseOffset: number; lastOffset: number }>;
}

/**
 * Encodes records [start, start + count) of a batch. A compressed batch can come out larger
 * than its records (incompressible data); if it exceeds `maxBytes` (max.message.bytes) it is
 * split in two, as Kafka's producer splits a batch the broker found too large.
 */
async function encode(batch: ProducerBatch, start: number, count: number, compression: Compression, maxBytes: number, identity: BatchIdentity | undefined): Promise<SourcedFrame[]> {
  const records = start === 0 && count === batch.records.length ? batch.records : batch.records.slice(start, start + count);
  // A record's sequence is the batch's first plus its index, so split halves stay contiguous.
  const sequenced = identity === undefined ? {} : { ...identity, baseSequence: (identity.baseSequence + start) % 2 ** 31 };
  const bytes = await encodeRecordBatch(records, { compression, ...sequenced });
  if (bytes.length <= maxBytes || count === 1) return [{ partition: batch.partition, batch: bytes, source: batch, start, count }];
  const half = Math.ceil(count / 2);
  return [...(await encode(batch, start, half, compression, maxBytes, identity)), ...(await encode(batch, start + half, count - half, compression, maxBytes, identity))];
}

// RecordBatch v2 header fields an identity change rewrites (see lib/codec/record-batch.ts).
const CRC_AT = 17;
const CRC_FROM = 21;
const PRODUCER_ID_AT = 43;
const PRODUCER_EPOCH_AT = 51;
const BASE_SEQUENCE_AT = 53;

/** Rewrites an encoded batch's producer id, epoch and base sequence, and its CRC (which covers them). */
function restamp(bytes: Buffer, identity: BatchIdentity): void {
  bytes.writeBigInt64BE(identity.producerId, PRODUCER_ID_AT);
  bytes.writeInt16BE(identity.producerEpoch, PRODUCER_EPOCH_AT);
  bytes.writeInt32BE(identity.baseSequence, BASE_SEQUENCE_AT);
  bytes.writeUInt32BE(crc32c(bytes, CRC_FROM, bytes.length), CRC_AT);
}

/** Claims sequences for every batch of the request at once: one id and epoch for all of it. */
function claimAll(identity: ProducerIdentity | undefined, request: DrainedRequest): Array<BatchIdentity | undefined> {
  return request.batches.map((batch) => identity?.claim(batch.topic, batch.partition, batch.recordCount));
}

/** Observers of one request, for the producer's stats. */
export interface ProduceRequestHooks {
  /** Called before each retry (a 429's wait included). */
  onRetry?: RetryListener;
  /** Called when UNKNOWN_PRODUCER_ID made the producer renew its identity and resend. */
  onIdentityRenewed?: () => void;
}

/**
 * Sends the request and acknowledges every record in it; rejects with the request's
 * SluiceError. IMPORTANT: empties each batch's records once encoded, so the data is held once.
 *
 * UNKNOWN_PRODUCER_ID (the server has no state for this producer on a partition: it was idle
 * longer than the state's expiry) means nothing of the request was appended. As Kafka's
 * producer does (KIP-360), the same bytes are resent under a bumped epoch with sequences from
 * 0, and once more under a new producer id if the id itself is unknown.
 */
export async function sendProduceRequest(transport: Transport, retry: ResolvedRetryOptions, request: DrainedRequest, compression: Compression, maxBatchBytes: number, identity?: ProducerIdentity, signal?: AbortSignal, hooks: ProduceRequestHooks = {}): Promise<void> {
  await identity?.ready(signal);
  // Claimed together, with no await between: one id and epoch for the whole request.
  let sequences = claimAll(identity, request);
  const frames: SourcedFrame[] = [];
  for (const [i, batch] of request.batches.entries()) frames.push(...(await encode(batch, 0, batch.records.length, compression, maxBatchBytes, sequences[i])));
  for (const batch of request.batches) batch.records = [];
  let response: ProduceResponse;
  for (let renewals = 0; ; renewals++) {
    try {
      response = await transport.json<ProduceResponse>(
        { method: 'POST', path: pathOf('v1', 'topics', request.topic, 'records'), headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames(frames), ...(signal === undefined ? {} : { signal }) },
        retry,
        hooks.onRetry,
      );
      break;
    } catch (error) {
      const used = sequences[0];
      if (identity === undefined || used === undefined || renewals >= 2 || !(error instanceof SluiceError) || error.code !== 'UNKNOWN_PRODUCER_ID') throw error;
      await identity.renew(used, renewals === 1, signal);
      sequences = claimAll(identity, request);
      const byBatch = new Map(request.batches.map((batch, i) => [batch, sequences[i] as BatchIdentity]));
      for (const frame of frames) {
        const claimed = byBatch.get(frame.source) as BatchIdentity;
        restamp(frame.batch, { ...claimed, baseSequence: (claimed.baseSequence + frame.start) % 2 ** 31 });
      }
      hooks.onIdentityRenewed?.();
    }
  }
  for (const [i, frame] of frames.entries()) {
    const placed = response?.batches?.[i];
    if (placed?.partition !== frame.partition) {
      throw new SluiceError('UNKNOWN_SERVER_ERROR', `The produce answer does not match the request: frame ${i} went to partition ${frame.partition}, the answer says ${JSON.stringify(placed)}`);
    }
    frame.source.acknowledge(frame.start, frame.count, placed.baseOffset);
  }
}
