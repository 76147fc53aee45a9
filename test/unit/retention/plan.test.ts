import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { planMerges, planRetention, type MergeOptions } from '../../../lib/retention/plan.ts';
import { topicConfigsFrom } from '../../../lib/log/topic-config.ts';
import type { IndexEntryItem } from '../../../lib/storage/schema.ts';

/** Dense entries: sizes in bytes, timestamps in ms, `count` records each. */
function entries(specs: Array<{ bytes: number; ts: number; count?: number }>): IndexEntryItem[] {
  let next = 0;
  return specs.map(({ bytes, ts, count = 1 }, i) => {
    const entry: IndexEntryItem = { pk: 'p', sk: `S#${i}`, baseOffset: next, lastOffset: next + count - 1, recordCount: count, objectKey: `o${i}`, byteStart: 0, byteLength: bytes, maxTimestamp: ts, batchCount: 1, createdAtMs: 0 };
    next += count;
    return entry;
  });
}

const keepForever = topicConfigsFrom({ 'retention.ms': -1 });

describe('planRetention', () => {
  it('removes the prefix of entries older than retention.ms and raises the log start to the first kept', () => {
    const plan = planRetention(entries([{ bytes: 1, ts: 1 }, { bytes: 1, ts: 2 }, { bytes: 1, ts: 50 }, { bytes: 1, ts: 3 }]), 0, topicConfigsFrom({ 'retention.ms': 10 }), 30);
    // The entry at ts 3 is expired too, but it sits behind a live one: only a prefix goes, as in Kafka.
    expect(plan.remove.map((e) => e.objectKey)).toEqual(['o0', 'o1']);
    expect(plan.logStartOffset).toBe(2);
  });

  it('never removes the newest entry, however old', () => {
    const plan = planRetention(entries([{ bytes: 1, ts: 1 }, { bytes: 1, ts: 1 }]), 0, topicConfigsFrom({ 'retention.ms': 0 }), 1e12);
    expect(plan.remove).toHaveLength(1);
  });

  it('applies retention.bytes as Kafka does: remove while what is left stays at or above the limit', () => {
    const list = entries([{ bytes: 100, ts: 0 }, { bytes: 100, ts: 0 }, { bytes: 100, ts: 0 }, { bytes: 100, ts: 0 }]);
    expect(planRetention(list, 0, topicConfigsFrom({ 'retention.ms': -1, 'retention.bytes': 250 }), 0).remove).toHaveLength(1);
    expect(planRetention(list, 0, topicConfigsFrom({ 'retention.ms': -1, 'retention.bytes': 200 }), 0).remove).toHaveLength(2);
    expect(planRetention(list, 0, topicConfigsFrom({ 'retention.ms': -1, 'retention.bytes': -1 }), 0).remove).toHaveLength(0);
  });

  it('removes entries wholly below a DeleteRecords log start, and keeps the log start inside an entry', () => {
    const list = entries([{ bytes: 1, ts: 0, count: 5 }, { bytes: 1, ts: 0, count: 5 }, { bytes: 1, ts: 0, count: 5 }]);
    const plan = planRetention(list, 7, keepForever, 0);
    expect(plan.remove.map((e) => e.objectKey)).toEqual(['o0']);
    expect(plan.logStartOffset).toBe(7);
  });

  it('deletes nothing by time or size under cleanup.policy=compact', () => {
    const plan = planRetention(entries([{ bytes: 100, ts: 0 }, { bytes: 100, ts: 0 }]), 0, topicConfigsFrom({ 'cleanup.policy': 'compact', 'retention.ms': 1, 'retention.bytes': 1 }), 1e9);
    expect(plan.remove).toHaveLength(0);
  });

  it('always removes a prefix, keeps the newest entry and never lowers the log start', () => {
    const spec = fc.array(fc.record({ bytes: fc.integer({ min: 1, max: 1000 }), ts: fc.integer({ min: 0, max: 1000 }), count: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(spec, fc.integer({ min: -1, max: 1000 }), fc.integer({ min: -1, max: 5000 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2000 }), (specs, ms, bytes, start, now) => {
        const list = entries(specs);
        const plan = planRetention(list, Math.min(start, (list.at(-1) as IndexEntryItem).lastOffset), topicConfigsFrom({ 'retention.ms': ms, 'retention.bytes': bytes }), now);
        expect(plan.remove).toEqual(list.slice(0, plan.remove.length));
        expect(plan.remove.length).toBeLessThan(list.length);
        expect(plan.logStartOffset).toBeGreaterThanOrEqual(Math.min(start, (list.at(-1) as IndexEntryItem).lastOffset));
      }),
    );
  });
});

describe('planMerges', () => {
  const options: MergeOptions = { smallSegmentBytes: 100, mergeTargetBytes: 500, mergeMinSegments: 3, maxSegmentsPerMerge: 49 };

  it('merges runs of at least mergeMinSegments small neighbours, split at large entries', () => {
    const list = entries([{ bytes: 10, ts: 0 }, { bytes: 10, ts: 0 }, { bytes: 10, ts: 0 }, { bytes: 200, ts: 0 }, { bytes: 10, ts: 0 }, { bytes: 10, ts: 0 }]);
    expect(planMerges(list, options).map((run) => run.map((e) => e.objectKey))).toEqual([['o0', 'o1', 'o2']]);
  });

  it('produces contiguous runs within the byte target and the transaction size', () => {
    const spec = fc.array(fc.integer({ min: 1, max: 150 }), { maxLength: 200 });
    fc.assert(
      fc.property(spec, (sizes) => {
        const list = entries(sizes.map((bytes) => ({ bytes, ts: 0 })));
        for (const run of planMerges(list, options)) {
          expect(run.length).toBeGreaterThanOrEqual(options.mergeMinSegments);
          expect(run.length).toBeLessThanOrEqual(options.maxSegmentsPerMerge);
          expect(run.reduce((n, e) => n + e.byteLength, 0)).toBeLessThanOrEqual(options.mergeTargetBytes);
          for (let i = 1; i < run.length; i++) expect(run[i]!.baseOffset).toBe(run[i - 1]!.lastOffset + 1);
          for (const e of run) expect(e.byteLength).toBeLessThan(options.smallSegmentBytes);
        }
      }),
    );
  });
});
