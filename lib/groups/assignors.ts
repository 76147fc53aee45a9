/**
 * Server-side assignors (KIP-848): given the members' subscriptions and the partition
 * counts of their topics, the target assignment. Pure functions.
 *
 * - `uniform`: balanced (partition counts per member differ by at most one among members
 *   subscribed to the same topics) and sticky: a partition stays with its current target
 *   owner whenever balance allows, so rebalances move as little as possible.
 * - `range`: Kafka's RangeAssignor, per topic: members sorted by id take contiguous
 *   ranges, the first `partitions % members` one extra.
 */

/** A topic-partition as the group state stores it: `topic:partition`. */
export type TopicPartitionKey = string;

export function tpKey(topic: string, partition: number): TopicPartitionKey {
  return `${topic}:${partition}`;
}

export function parseTpKey(key: TopicPartitionKey): { topic: string; partition: number } {
  const at = key.lastIndexOf(':');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

export type AssignorName = 'uniform' | 'range';
export const ASSIGNORS: readonly AssignorName[] = ['uniform', 'range'];

export interface AssignmentInput {
  /** memberId → subscribed topics. */
  subscriptions: ReadonlyMap<string, readonly string[]>;
  /** topic → partition count (topics that do not exist are absent). */
  partitionCounts: ReadonlyMap<string, number>;
  /** memberId → current target, for stickiness. */
  current: ReadonlyMap<string, readonly TopicPartitionKey[]>;
}

export type Assignment = Map<string, TopicPartitionKey[]>;

/** The target assignment by the named assignor. */
export function assign(name: AssignorName, input: AssignmentInput): Assignment {
  return name === 'range' ? rangeAssign(input) : uniformAssign(input);
}

function membersOf(topic: string, input: AssignmentInput): string[] {
  return [...input.subscriptions].filter(([, topics]) => topics.includes(topic)).map(([id]) => id).sort();
}

function emptyAssignment(input: AssignmentInput): Assignment {
  return new Map([...input.subscriptions.keys()].map((id) => [id, []]));
}

function rangeAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  for (const [topic, count] of [...input.partitionCounts].sort(([a], [b]) => a.localeCompare(b))) {
    const members = membersOf(topic, input);
    if (members.length === 0) continue;
    const per = Math.floor(count / members.length);
    const extra = count % members.length;
    let next = 0;
    members.forEach((id, i) => {
      const take = per + (i < extra ? 1 : 0);
      for (let p = next; p < next + take; p++) result.get(id)?.push(tpKey(topic, p));
      next += take;
    });
  }
  return result;
}

/**
 * Sticky and balanced, topic by topic: each member's quota is floor(n/m) or ceil(n/m);
 * members keep their current partitions up to their quota, and the rest go to the members
 * with the fewest partitions so far (ties by id, for determinism).
 */
function uniformAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  const load = new Map([...input.subscriptions.keys()].map((id) => [id, 0]));
  for (const [topic, count] of [...input.partitionCounts].sort(([a], [b]) => a.localeCompare(b))) {
    const members = membersOf(topic, input);
    if (members.length === 0) continue;
    const base = Math.floor(count / members.length);
    let withExtra = count % members.length;
    const owner = new Map<number, string>();
    // Keep current owners first, largest holdings first so they claim the extra slots.
    const holdings = members
      .map((id) => ({ id, mine: (input.current.get(id) ?? []).map(parseTpKey).filter((tp) => tp.topic === topic && tp.partition < count).map((tp) => tp.partition) }))
      .sort((a, b) => b.mine.length - a.mine.length || a.id.localeCompare(b.id));
    const quota = new Map<string, number>();
    for (const { id, mine } of holdings) {
      const q = base + (withExtra > 0 && mine.length > base ? 1 : 0);
      if (q > base) withExtra--;
      quota.set(id, q);
      for (const p of mine.slice(0, q)) if (!owner.has(p)) owner.set(p, id);
    }
    const counts = new Map(members.map((id) => [id, [...owner.values()].filter((o) => o === id).length]));
    for (let p = 0; p < count; p++) {
      if (owner.has(p)) continue;
      // The member furthest below its quota (then least loaded overall, then by id).
      const candidates = members.filter((id) => (counts.get(id) ?? 0) < (quota.get(id) ?? base) || (withExtra > 0 && (counts.get(id) ?? 0) === base && (quota.get(id) ?? base) === base));
      const pool = candidates.length > 0 ? candidates : members;
      pool.sort((a, b) => (counts.get(a) ?? 0) - (counts.get(b) ?? 0) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b));
      const id = pool[0] as string;
      if ((counts.get(id) ?? 0) === (quota.get(id) ?? base)) {
        quota.set(id, (quota.get(id) ?? base) + 1);
        withExtra--;
      }
      owner.set(p, id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const [p, id] of [...owner].sort(([a], [b]) => a - b)) {
      result.get(id)?.push(tpKey(topic, p));
      load.set(id, (load.get(id) ?? 0) + 1);
    }
  }
  return result;
}
