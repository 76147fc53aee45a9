import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { COMPACTION } from '../../../lib/config/defaults.ts';
import { topicConfigsFrom } from '../../../lib/log/topic-config.ts';
import { compactionWork, type PartitionSizes } from '../../../lib/retention/trigger.ts';

const MiB = 1024 * 1024;
const kept = topicConfigsFrom({ 'retention.ms': 604_800_000 });

/** Sizes around appending `segments` segments of `bytes` each, one at a time, from `start`. */
function appends(start: PartitionSizes, bytes: number, segments: number): Array<{ before: PartitionSizes; after: PartitionSizes }> {
  const out: Array<{ before: PartitionSizes; after: PartitionSizes }> = [];
  let before = start;
  for (let i = 0; i < segments; i++) {
    const after = { segments: before.segments + 1, bytes: before.bytes + bytes };
    out.push({ before, after });
    before = after;
  }
  return out;
}

describe('compactionWork', () => {
  it('asks for a merge once per 49 small segments (one full merge transaction), never for large ones', () => {
    const small = appends({ segments: 0, bytes: 0 }, 10_000, 49 * 3).map((a) => compactionWork(kept, a));
    expect(small.flatMap((w, i) => (w === undefined ? [] : [[i + 1, w]]))).toEqual([
      [49, 'merge'],
      [98, 'merge'],
      [147, 'merge'],
    ]);
    expect(appends({ segments: 0, bytes: 0 }, COMPACTION.smallSegmentBytes, 500).every((a) => compactionWork(kept, a) === undefined)).toBe(true);
  });

  it('asks for nothing in the modelled workload: 1 MiB segments, 7-day retention, no retention.bytes', () => {
    expect(appends({ segments: 600_000, bytes: 600_000 * MiB }, MiB + 100, 10_000).some((a) => compactionWork(kept, a) !== undefined)).toBe(false);
  });

  it('asks for retention.bytes only once the partition is a step (1/16 of the limit, at least 1 MiB) over it, then once per step', () => {
    const limit = 64 * MiB;
    const configs = topicConfigsFrom({ 'retention.bytes': limit });
    const work = appends({ segments: 0, bytes: 0 }, 2 * MiB, 60).map((a) => compactionWork(configs, a));
    // 2 MiB segments: over by a 4 MiB step at 68 MiB (the 34th), then every 2 appends.
    expect(work.slice(0, 33).every((w) => w === undefined)).toBe(true);
    expect(work[33]).toBe('retention.bytes');
    expect(work.slice(33).filter((w) => w === 'retention.bytes')).toHaveLength(14);
    expect(compactionWork(topicConfigsFrom({ 'retention.bytes': limit, 'cleanup.policy': 'compact' }), { before: { segments: 1, bytes: 70 * MiB }, after: { segments: 2, bytes: 74 * MiB } })).toBeUndefined();
  });

  it('keeps asking at the same pace when the sizes are stale (too high by what compaction already removed)', () => {
    const configs = topicConfigsFrom({ 'retention.bytes': 32 * MiB });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: MiB }), (staleMiB, staleBytes) => {
        const fired = appends({ segments: 100, bytes: (32 + 2 + staleMiB) * MiB + staleBytes }, MiB, 200).filter((a) => compactionWork(configs, a) === 'retention.bytes');
        // 200 MiB appended, a 2 MiB step: 100 visits, whatever the hint's error.
        return fired.length === 100;
      }),
    );
  });

  it('asks a compacted topic to clean each time it grows by triggerBytes', () => {
    const configs = topicConfigsFrom({ 'cleanup.policy': 'compact' });
    const work = appends({ segments: 0, bytes: 0 }, 16 * MiB, 40).map((a) => compactionWork(configs, a));
    expect(work.filter((w) => w === 'key compaction')).toHaveLength(Math.floor((40 * 16 * MiB) / COMPACTION.triggerBytes));
  });
});
