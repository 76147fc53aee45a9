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

/** Splits a key; topic names cannot hold ':', so the last one separates. */
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
  for (const [topic, count] of [...input.partitionCounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
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
 * Sticky and balanced: members with the same subscription share the partitions of all
 * their topics as one pool, so their total counts differ by at most one (balancing topic by
 * topic would give 2 members on 3 topics of 3 partitions 6 and 3). Members whose
 * subscriptions overlap without being equal are balanced topic by topic instead.
 */
function uniformAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  const classes = new Map<string, { members: string[]; topics: string[] }>();
  for (const [id, topics] of input.subscriptions) {
    const subscribed = [...new Set(topics)].filter((t) => input.partitionCounts.has(t)).sort();
    const key = subscribed.join('\n');
    const found = classes.get(key);
    if (found === undefined) classes.set(key, { members: [id], topics: subscribed });
    else found.members.push(id);
  }
  const topicClasses = new Map<string, number>();
  for (const c of classes.values()) for (const t of c.topics) topicClasses.set(t, (topicClasses.get(t) ?? 0) + 1);
  const disjoint = [...topicClasses.values()].every((n) => n === 1);
  const load = new Map([...input.subscriptions.keys()].map((id) => [id, 0]));
  const pools = disjoint
    ? [...classes.values()].map((c) => ({ members: c.members, partitions: c.topics.flatMap((t) => partitionsOf(t, input)) }))
    : [...input.partitionCounts.keys()].sort().map((t) => ({ members: membersOf(t, input), partitions: partitionsOf(t, input) }));
  for (const pool of pools) {
    if (pool.members.length === 0) continue;
    for (const [id, keys] of balanceSticky(pool.members.sort(), pool.partitions, input.current, load)) {
      result.get(id)?.push(...keys);
      load.set(id, (load.get(id) ?? 0) + keys.length);
    }
  }
  return result;
}

function partitionsOf(topic: string, input: AssignmentInput): TopicPartitionKey[] {
  return Array.from({ length: input.partitionCounts.get(topic) ?? 0 }, (_, p) => tpKey(topic, p));
}

/**
 * Splits `partitions` among `members`: each gets floor(n/m) or ceil(n/m); members keep their
 * current partitions up to that quota (largest holdings first, so they claim the extra
 * slots), and the rest go to the members furthest below quota (then least loaded, then by id).
 */
function balanceSticky(members: string[], partitions: TopicPartitionKey[], current: AssignmentInput['current'], load: ReadonlyMap<string, number>): Map<string, TopicPartitionKey[]> {
  const valid = new Set(partitions);
  const base = Math.floor(partitions.length / members.length);
  let withExtra = partitions.length % members.length;
  const owner = new Map<TopicPartitionKey, string>();
  const holdings = members
    .map((id) => ({ id, mine: (current.get(id) ?? []).filter((tp) => valid.has(tp)) }))
    .sort((a, b) => b.mine.length - a.mine.length || (a.id < b.id ? -1 : 1));
  const quota = new Map<string, number>();
  for (const { id, mine } of holdings) {
    const q = base + (withExtra > 0 && mine.length > base ? 1 : 0);
    if (q > base) withExtra--;
    quota.set(id, q);
    let kept = 0;
    for (const tp of mine) {
      if (kept >= q) break;
      if (owner.has(tp)) continue;
      owner.set(tp, id);
      kept++;
    }
  }
  const counts = new Map(members.map((id) => [id, 0]));
  for (const id of owner.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
  // Fill members up to their quota, then hand the remaining extras out one each: O(n + m log m).
  const order = [...members].sort((a, b) => (counts.get(a) ?? 0) - (counts.get(b) ?? 0) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || (a < b ? -1 : 1));
  const free = partitions.filter((tp) => !owner.has(tp));
  let next = 0;
  for (const id of order) {
    for (let n = counts.get(id) ?? 0; n < (quota.get(id) ?? base) && next < free.length; n++) owner.set(free[next++] as TopicPartitionKey, id);
  }
  for (const id of order) {
    if (next >= free.length) break;
    if ((quota.get(id) ?? base) === base) owner.set(free[next++] as TopicPartitionKey, id);
  }
  const result = new Map<string, TopicPartitionKey[]>(members.map((id) => [id, []]));
  for (const tp of partitions) {
    const id = owner.get(tp);
    if (id !== undefined) result.get(id)?.push(tp);
  }
  return result;
}
