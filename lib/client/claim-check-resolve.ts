/**
 * The consumer's side of the claim check: a record marked by the `sluice.claim-check`
 * header is handed over with its value downloaded through the blob route's presigned GET
 * URL and checked against the reference's size and SHA-256; the marker header is removed,
 * so the handler sees the record as it was sent. A mismatch (or a reference that does not
 * parse) is CORRUPT_MESSAGE, as Kafka reports a record that fails its CRC.
 *
 * Memory: one fetch resolves values up to RESOLVED_BYTES_PER_FETCH (at least one record);
 * the batch is cut after them and the rest is fetched again next.
 */
import { createHash } from 'node:crypto';
import { CLAIM_CHECK_HEADER, parseReference, type ClaimCheckReference } from '../blobs/reference.ts';
import { SluiceError } from '../errors.ts';
import { pathOf, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type { ConsumedBatch, ConsumedMessage } from './types.ts';

/** Bytes of downloaded values one fetch hands over at most, beyond its first record. */
export const RESOLVED_BYTES_PER_FETCH = 64 * 1024 * 1024;

/** True when a consumed record carries a claim-check reference. */
export function isClaimCheck(message: ConsumedMessage): boolean {
  return message.headers[CLAIM_CHECK_HEADER] !== undefined;
}

/** The reference a claim-check record carries, or CORRUPT_MESSAGE. */
export function referenceOf(topic: string, partition: number, message: ConsumedMessage): ClaimCheckReference {
  const reference = parseReference(message.value);
  if (reference === undefined) throw new SluiceError('CORRUPT_MESSAGE', `Record ${topic}/${partition}@${message.offset} has a ${CLAIM_CHECK_HEADER} header but no valid reference as its value`);
  return reference;
}

/** Downloads a referenced value and checks its size and SHA-256. */
export async function downloadBlob(transport: Transport, retry: ResolvedRetryOptions, topic: string, reference: ClaimCheckReference, signal?: AbortSignal): Promise<Buffer> {
  const { url } = await transport.json<{ url: string }>({ method: 'GET', path: pathOf('v1', 'topics', topic, 'blobs', reference.id), ...(signal === undefined ? {} : { signal }) }, retry);
  const response = await fetch(url, signal === undefined ? {} : { signal });
  if (!response.ok) {
    const text = await response.text();
    throw new SluiceError(response.status >= 500 ? 'KAFKA_STORAGE_ERROR' : 'CORRUPT_MESSAGE', `Downloading blob ${reference.id} of topic ${topic} answered ${response.status}: ${text.slice(0, 200)}`);
  }
  const value = Buffer.from(await response.arrayBuffer());
  const sha256 = createHash('sha256').update(value).digest('hex');
  if (value.length !== reference.size || sha256 !== reference.sha256) {
    throw new SluiceError('CORRUPT_MESSAGE', `Blob ${reference.id} of topic ${topic} holds ${value.length} bytes with SHA-256 ${sha256}, but the record references ${reference.size} bytes with SHA-256 ${reference.sha256}`);
  }
  return value;
}

/** Resolves the claim-check records of a fetched batch, cutting it once RESOLVED_BYTES_PER_FETCH is reached. */
export async function resolveClaimChecks(transport: Transport, retry: ResolvedRetryOptions, batch: ConsumedBatch, signal?: AbortSignal): Promise<ConsumedBatch> {
  if (!batch.messages.some(isClaimCheck)) return batch;
  const messages: ConsumedMessage[] = [];
  let resolvedBytes = 0;
  for (const message of batch.messages) {
    if (!isClaimCheck(message)) {
      messages.push(message);
      continue;
    }
    const reference = referenceOf(batch.topic, batch.partition, message);
    if (messages.length > 0 && resolvedBytes + reference.size > RESOLVED_BYTES_PER_FETCH) return { ...batch, messages, nextOffset: message.offset };
    const value = await downloadBlob(transport, retry, batch.topic, reference, signal);
    resolvedBytes += value.length;
    const { [CLAIM_CHECK_HEADER]: _marker, ...headers } = message.headers;
    messages.push({ ...message, value, headers });
  }
  return { ...batch, messages };
}
