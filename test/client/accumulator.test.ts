import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch, type BatchRecord } from '../../lib/codec/record-batch.ts';
import { partitionForKey } from '../../lib/log/partitioner.ts';
import { Accumulator, type BatchLimits, type DrainOptions } from '../../lib/client/accumulator.ts';
import { SendTracker, type ProducerBatch } from '../../lib/client/producer-batch.ts';

const LIMITS: BatchLimits = { targetBytes: 4096, maxBytes: 8192 };

function record(value: string | Buffer, key: string | null = null, timestamp = 1_700_000_000_000): BatchRecord {
  return { key: key === null ? null : Buffer.from(key), value: Buffer.from(value), headers: [], timestamp };
}

function drainOptions(overrides: Partial<DrainOptions> = {}): DrainOptions {
  return { nowMs: 0, force: true, isMuted: () => false, maxRequestBytes: 1 << 30, maxPartitions: 50, ...overrides };
}

function drainAll(acc: Accumulator): ProducerBatch[] {
  const out: ProducerBatch[] = [];
  for (let r = acc.drain(drainOptions()); r !== undefined; r = acc.drain(drainOptions())) out.push(...r.batches);
  return out;
}

describe('Class: Accumulator', () => {
  describe('Method: append', () => {
    it('sizes batches exactly as the codec encodes them and never past targetBytes', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ key: fc.option(fc.string({ maxLength: 20 })), value: fc.uint8Array({ maxLength: 900 }), headers: fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.option(fc.uint8Array({ maxLength: 30 }))), { maxLength: 3 }), skewMs: fc.integer({ min: -5000, max: 5000 }) }), { minLength: 1, maxLength: 60 }),
          async (messages) => {
            const acc = new Accumulator({ lingerMs: 5, bufferMemoryBytes: 1 << 30 });
            const tracker = new SendTracker('t', messages.length, -1);
            for (const [i, m] of messages.entries()) {
              const r: BatchRecord = { key: m.key === null ? null : Buffer.from(m.key), value: Buffer.from(m.value), headers: m.headers.map(([key, value]) => ({ key, value: value === null ? null : Buffer.from(value) })), timestamp: 1_700_000_000_000 + m.skewMs };
              expect(acc.append('t', 0, r, 1, LIMITS, tracker, i, 0).kind).toBe('appended');
            }
            for (const batch of drainAll(acc)) {
              const encoded = await encodeRecordBatch(batch.records);
              expect(encoded.length).toBe(batch.sizeBytes);
              expect(batch.sizeBytes).toBeLessThanOrEqual(LIMITS.targetBytes);
            }
          },
        ),
        { numRuns: 60 },
      );
    });

    it('puts a record larger than targetBytes in a batch of its own, and refuses one over maxBytes', () => {
      const acc = new Accumulator({ lingerMs: 5, bufferMemoryBytes: 1 << 30 });
      const tracker = new SendTracker('t', 3, -1);
      expect(acc.append('t', 0, record('a'), 1, LIMITS, tracker, 0, 0)).toMatchObject({ kind: 'appended', newBatch: true });
      const big = acc.append('t', 0, record(Buffer.alloc(6000)), 1, LIMITS, tracker, 1, 0);
      expect(big).toMatchObject({ kind: 'appended', newBatch: true });
      expect(acc.append('t', 0, record(Buffer.alloc(9000)), 1, LIMITS, tracker, 2, 0)).toMatchObject({ kind: 'too-large' });
      expect(drainAll(acc).map((b) => b.recordCount)).toEqual([1, 1]);
    });

    it('sends keyed records to the partition Kafka’s murmur2 partitioner picks', () => {
      const acc = new Accumulator({ lingerMs: 5, bufferMemoryBytes: 1 << 30 });
      const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`);
      const tracker = new SendTracker('t', keys.length, -1);
      for (const [i, key] of keys.entries()) acc.append('t', -1, record('v', key), 7, LIMITS, tracker, i, 0);
      for (const batch of drainAll(acc)) {
        for (const r of batch.records) expect(partitionForKey(r.key as Buffer, 7)).toBe(batch.partition);
      }
    });

    it('fills one partition with keyless records until its batch is complete, then moves to another (sticky)', () => {
      let n = 0;
      const sequence = [0.1, 0.6, 0.3, 0.9];
      const acc = new Accumulator({ lingerMs: 5, bufferMemoryBytes: 1 << 30 }, () => {}, () => sequence[n++ % sequence.length] as number);
      const tracker = new SendTracker('t', 100, -1);
      const runs: Array<{ partition: number; records: number }> = [];
      for (let i = 0; i < 100; i++) {
        const outcome = acc.append('t', -1, record('x'.repeat(200)), 4, LIMITS, tracker, i, 0);
        if (outcome.kind !== 'appended') throw new Error(outcome.kind);
        const last = runs.at(-1);
        if (last?.partition === outcome.batch.partition) last.records++;
        else runs.push({ partition: outcome.batch.partition, records: 1 });
      }
      // Each run of keyless records fills one batch, and the next run goes to another partition.
      const perBatch = drainAll(acc)[0]!.recordCount;
      expect(runs.length).toBeGreaterThan(3);
      expect(runs.map((r) => r.partition).slice(0, 4)).toEqual([0, 2, 1, 3]);
      for (const run of runs.slice(0, -1)) expect(run.records).toBe(perBatch);
    });

    it('refuses an append once bufferMemoryBytes is reserved, until a batch is released', () => {
      const acc = new Accumulator({ lingerMs: 5, bufferMemoryBytes: 3000 });
      const tracker = new SendTracker('t', 10, -1);
      let appended = 0;
      while (acc.append('t', appended % 2, record(Buffer.alloc(500)), 2, LIMITS, tracker, appended, 0).kind === 'appended') appended++;
      expect(appended).toBe(5);
      expect(acc.bufferedBytes).toBeLessThanOrEqual(3000);
      const [first] = acc.drain(drainOptions())!.batches;
      acc.release(first!);
      expect(acc.append('t', 0, record(Buffer.alloc(500)), 2, LIMITS, tracker, appended, 0).kind).toBe('appended');
    });
  });

  describe('Method: drain', () => {
    function filled(): Accumulator {
      const acc = new Accumulator({ lingerMs: 10, bufferMemoryBytes: 1 << 30 });
      const tracker = new SendTracker('t', 40, -1);
      for (let i = 0; i < 40; i++) acc.append('t', i % 4, record(Buffer.alloc(100)), 4, LIMITS, tracker, i, 1000);
      return acc;
    }

    it('takes nothing before lingerMs unless a batch is full or the drain is forced', () => {
      const acc = filled();
      expect(acc.drain(drainOptions({ force: false, nowMs: 1005 }))).toBeUndefined();
      expect(acc.nextLingerDeadlineMs(() => false)).toBe(1010);
      const request = acc.drain(drainOptions({ force: false, nowMs: 1010 }));
      expect(request?.batches.map((b) => b.partition).sort()).toEqual([0, 1, 2, 3]);
    });

    it('skips muted partitions', () => {
      const acc = filled();
      const request = acc.drain(drainOptions({ isMuted: (_, p) => p !== 2 }));
      expect(request?.batches.map((b) => b.partition)).toEqual([2]);
      expect(acc.nextLingerDeadlineMs((_, p) => p !== 1)).toBe(1010);
    });

    it('keeps a request within maxRequestBytes and maxPartitions, but always takes one batch', () => {
      const acc = filled();
      const one = acc.drain(drainOptions({ maxRequestBytes: 10 }));
      expect(one?.batches).toHaveLength(1);
      const two = acc.drain(drainOptions({ maxPartitions: 2 }));
      expect(new Set(two?.batches.map((b) => b.partition)).size).toBe(2);
    });

    it('takes a partition’s queued batches in order, oldest first', () => {
      const acc = new Accumulator({ lingerMs: 10, bufferMemoryBytes: 1 << 30 });
      const tracker = new SendTracker('t', 30, -1);
      for (let i = 0; i < 30; i++) acc.append('t', 0, record(Buffer.alloc(1000), null, i), 1, LIMITS, tracker, i, 0);
      const batches = acc.drain(drainOptions())!.batches;
      expect(batches.length).toBeGreaterThan(1);
      expect(batches.flatMap((b) => b.records.map((r) => r.timestamp))).toEqual(Array.from({ length: 30 }, (_, i) => i));
    });
  });
});
