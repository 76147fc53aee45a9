import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assign, parseTpKey, tpKey, type AssignmentInput } from '../../lib/groups/assignors.ts';

function input(members: string[], topics: Record<string, number>, current: Record<string, string[]> = {}): AssignmentInput {
  return {
    subscriptions: new Map(members.map((m) => [m, Object.keys(topics)])),
    partitionCounts: new Map(Object.entries(topics)),
    current: new Map(Object.entries(current)),
  };
}

describe('range assignor', () => {
  it("gives contiguous ranges per topic, the first members one extra, as Kafka's RangeAssignor", () => {
    const result = assign('range', input(['c1', 'c2'], { t: 5 }));
    expect(result.get('c1')).toEqual(['t:0', 't:1', 't:2']);
    expect(result.get('c2')).toEqual(['t:3', 't:4']);
  });
});

describe('uniform assignor', () => {
  it('balances 6 partitions over 3 members, two each', () => {
    const result = assign('uniform', input(['a', 'b', 'c'], { t: 6 }));
    expect([...result.values()].map((ps) => ps.length)).toEqual([2, 2, 2]);
  });

  it('is sticky: a fourth member takes partitions without moving any other', () => {
    const before = assign('uniform', input(['a', 'b', 'c'], { t: 8 }));
    const after = assign('uniform', input(['a', 'b', 'c', 'd'], { t: 8 }, Object.fromEntries(before)));
    let moved = 0;
    for (const id of ['a', 'b', 'c']) moved += (before.get(id) ?? []).filter((p) => !(after.get(id) ?? []).includes(p)).length;
    expect(after.get('d')).toHaveLength(2);
    expect(moved).toBe(2);
  });

  it('assigns every partition exactly once, balanced within one, and keeps what balance allows', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('m1', 'm2', 'm3', 'm4', 'm5', 'm6'), { minLength: 1 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 }), (members, partitions, seed) => {
        const first = assign('uniform', input(members.slice(0, Math.max(1, members.length - 1)), { t: partitions }));
        const current = Object.fromEntries([...first].map(([id, ps]) => [id, seed === 0 ? [] : ps]));
        const result = assign('uniform', input(members, { t: partitions }, current));
        const all = [...result.values()].flat();
        expect(all.sort()).toEqual(Array.from({ length: partitions }, (_, p) => tpKey('t', p)).sort());
        const sizes = [...result.values()].map((ps) => ps.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        // Stickiness: a member keeps min(what it had, its share) partitions.
        for (const [id, had] of Object.entries(current)) {
          const kept = had.filter((p) => result.get(id)?.includes(p)).length;
          expect(kept).toBeGreaterThanOrEqual(Math.min(had.length, Math.floor(partitions / members.length)));
        }
      }),
    );
  });

  it('parses topic-partition keys with colons in the topic name', () => {
    expect(parseTpKey('a:b:7')).toEqual({ topic: 'a:b', partition: 7 });
  });
});

describe('uniform assignor across topics', () => {
  it('gives 2 members on 3 topics of 3 partitions 5 and 4, not 6 and 3, when the second joins the first', () => {
    const alone = assign('uniform', input(['a'], { t1: 3, t2: 3, t3: 3 }));
    const result = assign('uniform', input(['a', 'b'], { t1: 3, t2: 3, t3: 3 }, Object.fromEntries(alone)));
    expect([...result.values()].map((ps) => ps.length).sort()).toEqual([4, 5]);
  });

  it('keeps members with equal subscriptions within one partition of each other in total, and stays sticky, over random topic sets', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('m1', 'm2', 'm3', 'm4', 'm5'), { minLength: 1 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (members, counts, sticky) => {
          const topics = Object.fromEntries(counts.map((n, i) => [`t${i}`, n]));
          const total = counts.reduce((a, b) => a + b, 0);
          const first = assign('uniform', input(members.slice(0, Math.max(1, members.length - 1)), topics));
          const current = sticky ? Object.fromEntries(first) : {};
          const result = assign('uniform', input(members, topics, current));
          expect([...result.values()].flat().sort()).toEqual(Object.entries(topics).flatMap(([t, n]) => Array.from({ length: n }, (_, p) => tpKey(t, p))).sort());
          const sizes = [...result.values()].map((ps) => ps.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          for (const [id, had] of Object.entries(current)) {
            const kept = had.filter((p) => result.get(id)?.includes(p)).length;
            expect(kept).toBeGreaterThanOrEqual(Math.min(had.length, Math.floor(total / members.length)));
          }
        },
      ),
    );
  });
});
