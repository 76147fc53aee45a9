/**
 * The producer's claim check: a value above the threshold is uploaded to S3 through the
 * blob routes' presigned URLs (in parts, in parallel, above the part size), and the message
 * sent in its place carries the reference with the `sluice.claim-check` header.
 *
 * Order: uploads of several sends run at once, but sends enter the producer in call order —
 * once a send is waiting for an upload, every later send waits behind it — so records of a
 * partition are appended in the order `send` was called, as without claim checks.
 */
import { createHash } from 'node:crypto';
import { BLOBS } from '../config/defaults.ts';
import { CLAIM_CHECK_HEADER, CLAIM_CHECK_VERSION, encodeReference, type ClaimCheckReference } from '../blobs/reference.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import { pathOf, type Transport } from './http.ts';
import type { ClaimCheckOptions, ResolvedRetryOptions } from './options.ts';
import type { Bytes, Message, ProducerRecord, RecordMetadata } from './types.ts';

/** What the blob route answers (lib/blobs/uploads.ts). */
interface RegisteredBlob {
  id: string;
  key: string;
  size: number;
  sha256: string;
  upload: { type: 'single'; url: string } | { type: 'multipart'; partSizeBytes: number; parts: Array<{ partNumber: number; url: string }> };
}

function byteLength(value: Bytes): number {
  return typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength;
}

/** Uploads large values of the sends that pass through it, keeping sends in call order. */
export class ClaimCheckUploader {
  private readonly thresholdBytes: number;
  private readonly partSizeBytes: number;
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly transport: Transport,
    private readonly retry: ResolvedRetryOptions,
    options: ClaimCheckOptions,
  ) {
    this.thresholdBytes = options.thresholdBytes ?? BLOBS.thresholdBytes;
    this.partSizeBytes = options.partSizeBytes ?? BLOBS.multipartThresholdBytes;
  }

  /** Settles once every send that passed through has entered the producer (or failed). */
  idle(): Promise<unknown> {
    return this.tail;
  }

  /** Hands `record` to `enqueue` with its large values replaced by references, in call order. */
  send(record: ProducerRecord, enqueue: (record: ProducerRecord) => Promise<RecordMetadata[]>): Promise<RecordMetadata[]> {
    const large = Array.isArray(record?.messages) && record.messages.some((m) => m?.value !== null && m?.value !== undefined && byteLength(m.value) > this.thresholdBytes);
    if (!large && this.waiting === 0) return enqueue(record);
    this.waiting++;
    const converted = large ? this.convert(record) : Promise.resolve(record);
    converted.catch(() => {});
    // The acknowledgement is wrapped so the next send waits for this one's enqueue, not its acknowledgement.
    const turn = this.tail.then(async () => {
      try {
        return { sent: enqueue(await converted) };
      } finally {
        this.waiting--;
      }
    });
    this.tail = turn.catch(() => {});
    return turn.then(({ sent }) => sent);
  }

  private async convert(record: ProducerRecord): Promise<ProducerRecord> {
    const messages = await Promise.all(record.messages.map((m) => (m.value !== null && m.value !== undefined && byteLength(m.value) > this.thresholdBytes ? this.checkIn(record.topic, m, m.value) : m)));
    return { ...record, messages };
  }

  private async checkIn(topic: string, message: Message, value: Bytes): Promise<Message> {
    const reference = await this.upload(topic, typeof value === 'string' ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return { ...message, value: encodeReference(reference), headers: { ...message.headers, [CLAIM_CHECK_HEADER]: CLAIM_CHECK_VERSION } };
  }

  /** Uploads one value and answers its reference. */
  async upload(topic: string, value: Buffer): Promise<ClaimCheckReference> {
    const sha256 = createHash('sha256').update(value).digest('hex');
    const blob = await this.transport.json<RegisteredBlob>(
      { method: 'POST', path: pathOf('v1', 'topics', topic, 'blobs'), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: value.length, sha256, partSizeBytes: this.partSizeBytes }) },
      this.retry,
    );
    if (blob.upload.type === 'single') {
      await this.put(blob.upload.url, value, `blob ${blob.id}`);
    } else {
      const { partSizeBytes, parts } = blob.upload;
      const etags = new Array<{ partNumber: number; etag: string }>(parts.length);
      let next = 0;
      const worker = async () => {
        while (next < parts.length) {
          const part = parts[next++] as { partNumber: number; url: string };
          const start = (part.partNumber - 1) * partSizeBytes;
          const etag = await this.put(part.url, value.subarray(start, Math.min(value.length, start + partSizeBytes)), `part ${part.partNumber} of blob ${blob.id}`);
          etags[part.partNumber - 1] = { partNumber: part.partNumber, etag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(BLOBS.uploadConcurrency, parts.length) }, worker));
      await this.transport.json(
        { method: 'POST', path: pathOf('v1', 'topics', topic, 'blobs', blob.id, 'complete'), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parts: etags }) },
        this.retry,
      );
    }
    return { id: blob.id, key: blob.key, size: value.length, sha256 };
  }

  /** An upload's deadline: the request timeout, but never less than a minute plus 1 ms per KiB (1 MB/s). */
  private timeoutMs(bytes: number): number {
    return Math.max(this.retry.requestTimeoutMs, 60_000 + Math.ceil(bytes / 1024));
  }

  /** PUTs bytes to a presigned URL, retrying failures as the client's requests are; answers the ETag. */
  private async put(url: string, body: Buffer, what: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      try {
        const response = await fetch(url, { method: 'PUT', body: new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength), signal: AbortSignal.timeout(this.timeoutMs(body.length)) });
        const text = await response.text();
        if (response.ok) return response.headers.get('etag') ?? '';
        failure = `S3 answered ${response.status}: ${text.slice(0, 200)}`;
        if (response.status < 500 && response.status !== 429) throw new SluiceError('INVALID_REQUEST', `Uploading ${what} failed: ${failure}`);
      } catch (error) {
        if (error instanceof SluiceError) throw error;
        failure = String(error);
      }
      if (attempt >= this.retry.retries) throw new SluiceError('KAFKA_STORAGE_ERROR', `Uploading ${what} failed after ${attempt + 1} attempts: ${failure}`);
      await sleep(backoffDelayMs(attempt, { baseMs: this.retry.retryBackoffMs, capMs: this.retry.retryBackoffMaxMs }));
    }
  }
}
