import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, decodeFrames } from '../../lib/codec/framing.ts';
import { readBatchHeader } from '../../lib/codec/record-batch.ts';
import { SluiceError } from '../../lib/errors.ts';
import { partitionForKey } from '../../lib/log/partitioner.ts';
import { Sluice, type Compression, type RecordMetadata } from '../../lib/client/index.ts';
import { api, startTestStack } from '../support/stack.ts';
import { count, createTopic, harness, readAll } from './helpers.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.server.close();
});

describe('Class: Producer', () => {
  describe('Method: send (batching)', () => {
    it('sends one binary request per topic carrying a batch for every ready partition', async () => {
      // Prepare
      await createTopic(stack.url, 'batched', 4);
      const h = harness();
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ lingerMs: 50 });
      const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `user-${i % 40}`, value: `event-${i}` }));

      // Act
      const sends = Array.from({ length: 10 }, (_, i) => producer.send({ topic: 'batched', messages: messages.slice(i * 100, i * 100 + 100) }));
      const results = (await Promise.all(sends)).flat();
      await producer.disconnect();

      // Assess
      expect(count(h, 'POST', '/records')).toBe(1);
      expect(count(h, 'GET', '/v1/topics/batched')).toBe(1);
      expect(results).toHaveLength(1000);
      for (const [i, r] of results.entries()) expect(r.partition).toBe(partitionForKey(Buffer.from(`user-${i % 40}`), 4));
      for (let p = 0; p < 4; p++) {
        const stored = await readAll(stack.url, 'batched', p);
        const mine = results.map((r, i) => ({ ...r, i })).filter((r) => r.partition === p);
        expect(stored.map((s) => s.value)).toEqual(mine.map((r) => `event-${r.i}`));
        expect(stored.map((s) => s.offset)).toEqual(mine.map((r) => r.offset));
      }
    });

    it('sends about one request per batchBytes and never a batch over it', async () => {
      await createTopic(stack.url, 'sized', 1);
      const h = harness();
      const batchBytes = 64 * 1024;
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ batchBytes, lingerMs: 20 });
      const value = 'x'.repeat(1000);
      const total = 1000;
      await Promise.all(Array.from({ length: total }, (_, i) => producer.send({ topic: 'sized', messages: [{ value, partition: 0, headers: { i: String(i) } }] })));
      await producer.disconnect();

      const requests = count(h, 'POST', '/records');
      const bytes = total * 1024;
      expect(requests).toBeLessThanOrEqual(Math.ceil(bytes / batchBytes) + 1);
      const binary = await fetch(`${stack.url}/v1/topics/sized/partitions/0/records?offset=0&maxBytes=4194304&maxRecords=10000`, { headers: { accept: BATCHES_MEDIA_TYPE } });
      const frames = decodeFrames(Buffer.from(await binary.arrayBuffer()));
      for (const f of frames) expect(f.batch.length).toBeLessThanOrEqual(batchBytes);
      expect(frames.reduce((n, f) => n + readBatchHeader(f.batch).recordCount, 0)).toBe(total);
    });

    it('sends keyless records of one batch to one partition (sticky partitioner)', async () => {
      await createTopic(stack.url, 'sticky', 8);
      const producer = new Sluice({ url: stack.url }).producer({ lingerMs: 20 });
      const results = await producer.send({ topic: 'sticky', messages: Array.from({ length: 50 }, (_, i) => ({ value: `v${i}` })) });
      await producer.disconnect();
      expect(new Set(results.map((r) => r.partition)).size).toBe(1);
    });
  });

  describe('Method: send (compression)', () => {
    it.each<Compression>(['none', 'gzip', 'snappy', 'lz4', 'zstd'])('round trips %s batches through the server', async (compression) => {
      const topic = `codec-${compression}`;
      await createTopic(stack.url, topic, 1);
      const producer = new Sluice({ url: stack.url }).producer({ compression });
      const messages = Array.from({ length: 300 }, (_, i) => ({ key: i % 3 === 0 ? null : `k${i}`, value: i % 50 === 7 ? null : `{"n":${i},"pad":"${'ab'.repeat(i % 40)}"}`, headers: { trace: `t${i}`, empty: null }, timestamp: 1_700_000_000_000 + i }));
      await producer.send({ topic, messages: messages.map((m) => ({ ...m, partition: 0 })) });
      await producer.disconnect();

      const binary = await fetch(`${stack.url}/v1/topics/${topic}/partitions/0/records?offset=0`, { headers: { accept: BATCHES_MEDIA_TYPE } });
      const frames = decodeFrames(Buffer.from(await binary.arrayBuffer()));
      expect(frames.map((f) => readBatchHeader(f.batch).compression)).toEqual(frames.map(() => compression));
      const stored = await readAll(stack.url, topic, 0);
      expect(stored.map((s) => ({ key: s.key, value: s.value, headers: s.headers, timestamp: s.timestamp }))).toEqual(messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp })));
    });
  });

  describe('Method: send (retries)', () => {
    it('retries a 429 after its Retry-After and a 503, without losing or duplicating records', async () => {
      await createTopic(stack.url, 'retried', 2);
      const h = harness();
      h.faults.push(
        { status: 429, body: { error: 'THROTTLING_QUOTA_EXCEEDED', message: 'slow down', retriable: true }, headers: { 'retry-after': '1' } },
        { status: 503, body: { error: 'KAFKA_STORAGE_ERROR', message: 'storage unavailable', retriable: true } },
      );
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ retryBackoffMs: 10 });
      const started = Date.now();
      const results = await producer.send({ topic: 'retried', messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 7}`, value: String(i) })) });
      await producer.disconnect();

      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(count(h, 'POST', '/records')).toBe(3);
      const stored = [...(await readAll(stack.url, 'retried', 0)), ...(await readAll(stack.url, 'retried', 1))];
      expect(stored.map((s) => Number(s.value)).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(new Set(results.map((r) => `${r.partition}/${r.offset}`)).size).toBe(100);
    });

    it('appends a batch once when its answer was lost and the retry resends it (idempotent by default)', async () => {
      await createTopic(stack.url, 'answer-lost', 1);
      const h = harness();
      h.loseAnswers = 2;
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ retryBackoffMs: 10 });
      const results = await producer.send({ topic: 'answer-lost', messages: Array.from({ length: 20 }, (_, i) => ({ value: String(i), partition: 0 })) });
      await producer.disconnect();
      expect(count(h, 'POST', '/records')).toBe(3);
      const stored = await readAll(stack.url, 'answer-lost', 0);
      expect(stored.map((s) => s.value)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('duplicates a batch whose answer was lost when idempotence is off, as Kafka does', async () => {
      await createTopic(stack.url, 'answer-lost-plain', 1);
      const h = harness();
      h.loseAnswers = 1;
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ retryBackoffMs: 10, idempotent: false });
      await producer.send({ topic: 'answer-lost-plain', messages: [{ value: 'once?', partition: 0 }] });
      await producer.disconnect();
      expect((await readAll(stack.url, 'answer-lost-plain', 0)).map((s) => s.value)).toEqual(['once?', 'once?']);
    });

    it('rejects with the typed SluiceError once retries run out', async () => {
      await createTopic(stack.url, 'exhausted', 1);
      const h = harness();
      for (let i = 0; i < 3; i++) h.faults.push({ status: 503, body: { error: 'KAFKA_STORAGE_ERROR', message: 'storage unavailable', retriable: true } });
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ retries: 2, retryBackoffMs: 1, retryBackoffMaxMs: 5 });
      const error = await producer.send({ topic: 'exhausted', messages: [{ value: 'lost' }] }).catch((e: unknown) => e);
      await producer.disconnect();

      expect(error).toBeInstanceOf(SluiceError);
      expect(error).toMatchObject({ code: 'KAFKA_STORAGE_ERROR', status: 503, retriable: true, landed: [], failedIndices: [0] });
      expect((error as Error).message).toMatch(/^storage unavailable; none of the 1 messages was acknowledged/);
      expect(count(h, 'POST', '/records')).toBe(3);
      expect((await api(stack.url, 'GET', '/v1/topics/exhausted')).body.partitions[0].highWatermark).toBe(0);
    });

    it('does not retry a non-retriable error: an unknown topic fails at once', async () => {
      const h = harness();
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer();
      await expect(producer.send({ topic: 'no-such-topic', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
      expect(h.seen).toHaveLength(1);
      await producer.disconnect();
    });
  });

  describe('Method: send (limits)', () => {
    it('fails a record over max.message.bytes with MESSAGE_TOO_LARGE and writes nothing', async () => {
      await createTopic(stack.url, 'tiny', 1, { 'max.message.bytes': 1024 });
      const producer = new Sluice({ url: stack.url }).producer();
      await expect(producer.send({ topic: 'tiny', messages: [{ value: 'small' }, { value: 'x'.repeat(2000) }] })).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      await producer.disconnect();
      expect((await api(stack.url, 'GET', '/v1/topics/tiny')).body.partitions[0].highWatermark).toBe(0);
    });

    it('keeps every batch within a small max.message.bytes', async () => {
      await createTopic(stack.url, 'small-batches', 1, { 'max.message.bytes': 2048 });
      const producer = new Sluice({ url: stack.url }).producer({ compression: 'gzip' });
      await producer.send({ topic: 'small-batches', messages: Array.from({ length: 200 }, (_, i) => ({ value: `${i}`.padEnd(100, '.') })) });
      await producer.disconnect();
      expect((await readAll(stack.url, 'small-batches', 0)).map((r) => Number.parseInt(r.value ?? '', 10))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });

    it('refuses a send with an invalid message whole, writing none of it', async () => {
      await createTopic(stack.url, 'invalid', 1);
      const producer = new Sluice({ url: stack.url }).producer();
      await expect(producer.send({ topic: 'invalid', messages: [{ value: 'fine' }, { value: 5 as never }] })).rejects.toMatchObject({ code: 'INVALID_RECORD', message: 'messages[1]: value must be a string, Buffer, Uint8Array or null, got number' });
      await expect(producer.send({ topic: 'invalid', messages: [{ value: 'x', partition: -1 }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' });
      await producer.disconnect();
      await expect(producer.send({ topic: 'invalid', messages: [{ value: 'late' }] })).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: 'The producer is disconnected' });
      expect((await api(stack.url, 'GET', '/v1/topics/invalid')).body.partitions[0].highWatermark).toBe(0);
    });

    it('resolves an acks=0 send once buffered, with offset -1, and still delivers it', async () => {
      await createTopic(stack.url, 'fire-and-forget', 1);
      const producer = new Sluice({ url: stack.url }).producer({ lingerMs: 1000 });
      const started = Date.now();
      expect(await producer.send({ topic: 'fire-and-forget', acks: 0, messages: [{ value: 'a' }] })).toEqual([{ topic: 'fire-and-forget', partition: 0, offset: -1 }]);
      expect(Date.now() - started).toBeLessThan(500);
      await producer.disconnect();
      expect((await readAll(stack.url, 'fire-and-forget', 0)).map((r) => r.value)).toEqual(['a']);
    });

    it('describes the topic again for a partition past the known count', async () => {
      await createTopic(stack.url, 'growing', 2);
      const h = harness();
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer();
      await producer.send({ topic: 'growing', messages: [{ value: 'a', partition: 1 }] });
      await expect(producer.send({ topic: 'growing', messages: [{ value: 'b', partition: 3 }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
      await api(stack.url, 'PATCH', '/v1/topics/growing', { partitions: 4 });
      const [placed] = await producer.send({ topic: 'growing', messages: [{ value: 'c', partition: 3 }] });
      await producer.disconnect();
      expect(placed).toEqual({ topic: 'growing', partition: 3, offset: 0 });
      expect(count(h, 'GET', '/v1/topics/growing')).toBe(3);
    });
  });

  describe('Method: send (backpressure and ordering)', () => {
    it('holds sends while the buffer is full and never buffers more than bufferMemoryBytes', async () => {
      await createTopic(stack.url, 'pressure', 2);
      const h = harness();
      let open!: () => void;
      h.gate = new Promise<void>((resolve) => (open = resolve));
      const bufferMemoryBytes = 64 * 1024;
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ bufferMemoryBytes, batchBytes: 16 * 1024, lingerMs: 1 });
      let peak = 0;
      const sample = setInterval(() => (peak = Math.max(peak, producer.bufferedBytes)), 1);
      const value = Buffer.alloc(4096, 7);

      const settled: boolean[] = [];
      const sends = Array.from({ length: 64 }, (_, i) => {
        settled.push(false);
        return producer.send({ topic: 'pressure', messages: [{ key: `k${i % 5}`, value }] }).then((r) => {
          settled[i] = true;
          return r;
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      peak = Math.max(peak, producer.bufferedBytes);

      // 64 × 4 KiB is four times the buffer: nothing is acknowledged and the buffer is full, not overfull.
      expect(settled.every((s) => !s)).toBe(true);
      expect(producer.bufferedBytes).toBeGreaterThan(bufferMemoryBytes / 2);
      expect(producer.bufferedBytes).toBeLessThanOrEqual(bufferMemoryBytes);

      open();
      const results = await Promise.all(sends);
      clearInterval(sample);
      await producer.disconnect();
      expect(peak).toBeLessThanOrEqual(bufferMemoryBytes);
      expect(producer.bufferedBytes).toBe(0);
      expect(results.flat()).toHaveLength(64);
    });

    it('keeps per-key order across many in-flight requests, retries and delays', async () => {
      await createTopic(stack.url, 'ordered', 4);
      const h = harness();
      let calls = 0;
      h.delayMs = () => Math.floor(Math.random() * 20);
      h.matches = (r) => r.method === 'POST' && r.path.endsWith('/records') && calls++ % 3 === 1;
      for (let i = 0; i < 5; i++) h.faults.push({ status: 503, body: { error: 'KAFKA_STORAGE_ERROR', message: 'flaky', retriable: true } });
      const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ batchBytes: 2048, maxRequestBytes: 4096, lingerMs: 1, maxInFlightRequests: 5, retryBackoffMs: 5 });
      let peakInFlight = 0;
      const sample = setInterval(() => (peakInFlight = Math.max(peakInFlight, producer.inFlightRequests)), 1);
      const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
      // Small requests split each drain into several, so requests for different partitions overlap.
      const sends: Array<Promise<RecordMetadata[]>> = [];
      for (let seq = 0; seq < 150; seq++) {
        sends.push(producer.send({ topic: 'ordered', messages: keys.map((key) => ({ key, value: `${key}:${seq}` })) }));
        if (seq % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await Promise.all(sends);
      await producer.disconnect();
      clearInterval(sample);
      expect(peakInFlight).toBeGreaterThan(1);

      const seen = new Map<string, number[]>();
      for (let p = 0; p < 4; p++) {
        for (const r of await readAll(stack.url, 'ordered', p)) {
          const [key, seq] = (r.value as string).split(':') as [string, string];
          expect(partitionForKey(Buffer.from(key), 4)).toBe(p);
          seen.set(key, [...(seen.get(key) ?? []), Number(seq)]);
        }
      }
      for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    });
  });
});
